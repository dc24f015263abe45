"""Evaluation library: classification metrics with calibration, per-domain scores, confusion matrices in
DVC's confusion-template format (``metrics``), plots with matplotlib Agg (``plots``), inference cost (``speed``)
timed on a fixed seeded sample of test sentences (``sampling``). Submodules are imported where used, so the CLI's
error handling stays light (``errors``)."""
