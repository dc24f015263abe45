"""Data validation with Great Expectations: bad data never reaches training silently.

Two layers, both naming the file, the rule and the offending row(s):

1. **Parse level** (``mtst.data.files.read_table``, before GX): unsupported format, empty file, header
   only, missing columns (with a hint when the delimiter is wrong), bytes that are not UTF-8 (UTF-16 files
   included), lone-surrogate escapes in JSONL, broken JSONL lines, ragged CSV rows, mixed line endings,
   corrupt Parquet or Parquet columns of the wrong type. Raises ``DataFileError``.
2. **Content level** (GX 1.x suites run as one Checkpoint, see ``checkpoint``): required columns and
   types, no null / empty / whitespace-only text, text length bounds, no control characters or stray
   BOMs, labels in the declared set, split values, no duplicate text or id within a split, at least
   ``min_per_class`` rows of every label in every split, no text and no article (group) in two splits of
   a dataset, and a class-balance report. Raises ``ValidationFailed`` with a short summary.

This package's ``__init__`` does not import GX (a slow import); ``check`` does, when called.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mtst.config import ValidateParams
from mtst.validation.report import Failure, ValidationFailed, summarise
from mtst.validation.tables import Table, class_counts, labels_for, pipeline_tables, user_tables

REPORT = "report.json"
"""What ``mtst validate`` writes into its output folder: every suite's results and the class balance."""

__all__ = ["Failure", "Table", "ValidationFailed", "check", "labels_for", "pipeline_tables", "summarise",
           "user_tables"]


def class_balance(tables: list[Table], labels: dict[str, list[str]]) -> dict[str, Any]:
    """``{file: {part: {label: {count, fraction}, ..., "imbalance_ratio": r}}}`` for the report."""
    report: dict[str, Any] = {}
    for row in class_counts(tables, labels).to_dict(orient="records"):
        part = report.setdefault(row["file"], {}).setdefault(row["part"], {})
        part[row["label"]] = {"count": int(row["count"]), "fraction": float(row["fraction"])}
        ratio = float(row["imbalance_ratio"])
        part["imbalance_ratio"] = ratio if ratio != float("inf") else None
    return report


def check(tables: list[Table], params: ValidateParams, docs_dir: str | Path | None = None,
          rules: frozenset[str] | None = None, work_dir: str | Path | None = None,
          labels: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Validate ``tables`` in one GX Checkpoint; build Data Docs into ``docs_dir`` if given. ``work_dir``: the
    caller's unfinished output folder, for GX's scratch files (see ``checkpoint.run_checkpoint``). ``labels``: each
    task's label set as the prepared data records it; ``params.labels`` overrides it (``tables.labels_for``).

    Returns the report (``success`` false when a critical expectation failed); raises nothing itself, so
    callers decide where the report and the Data Docs of a failed run go.
    """
    from mtst.validation import checkpoint

    start = time.perf_counter()
    labels = labels_for(tables, params.labels, labels)
    batch_list = checkpoint.batches(tables, labels, params, rules if rules is not None else checkpoint.ALL_RULES)
    results = checkpoint.run_checkpoint(batch_list, Path(docs_dir) if docs_dir is not None else None,
                                        Path(work_dir) if work_dir is not None else None)
    failures, stats = checkpoint.collect(batch_list, results, labels, params.sample_rows)
    critical = [f for f in failures if f.severity == "critical"]
    return {
        "success": not critical,
        "failures": [f.to_dict() for f in critical],
        "warnings": [f.to_dict() for f in failures if f.severity != "critical"],
        "batches": stats,
        "files": {t.path: {"task": t.task, "rows": int(len(t.frame))} for t in tables if not t.context_only},
        "expectations": sum(s["expectations"] for s in stats.values()),
        "class_balance": class_balance(tables, labels),
        "labels": labels,
        "seconds": round(time.perf_counter() - start, 2),
    }


def failures_of(report: dict[str, Any]) -> list[Failure]:
    return [Failure(**f) for f in report["failures"]]
