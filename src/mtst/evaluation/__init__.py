"""Evaluation library: classification metrics with calibration, per-domain scores, confusion matrices in
DVC's confusion-template format (``metrics``), plots with matplotlib Agg (``plots``), inference cost
(``speed``). Submodules are imported where used, so the CLI's error handling stays light (``errors``)."""
