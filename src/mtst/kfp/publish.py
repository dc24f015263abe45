"""What a component publishes for the KFP UI: scalar metrics on ``Metrics``, the Data Docs on ``HTML``,
confusion matrices on ``ClassificationMetrics``; and the MLflow grouping of a KFP run's tasks.

The helpers take kfp's artifact objects but import nothing from kfp (they run in the component image).
"""

from __future__ import annotations

import html
import math
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mtst.kfp.artifacts import read_json
from mtst.contracts.evaluation import REPORT
from mtst.tasks import TASK_NAMES


def pipeline_id(pipeline_run_id: str) -> str | None:
    """The MLflow pipeline id of the KFP run ``pipeline_run_id``: every task of one KFP run logs under one parent
    run (None without a run id: the step's default identity)."""
    return f"kfp-{pipeline_run_id}" if pipeline_run_id else None


def flatten_numbers(obj: Any, prefix: str = "") -> dict[str, float]:
    """Finite numeric leaves of a nested mapping as ``{"a.b.c": value}`` (lists, strings, bools skipped)."""
    out: dict[str, float] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                out.update(flatten_numbers(value, f"{name}."))
            elif _is_number(value):
                out[name] = float(value)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def log_metrics(metrics: Any, summary: Mapping[str, Any] | None, prefix: str = "") -> dict[str, float]:
    """Log every numeric leaf of ``summary`` on a KFP ``Metrics`` artifact; return what was logged."""
    values = flatten_numbers(summary or {}, prefix)
    for name, value in sorted(values.items()):
        metrics.log_metric(name, value)
    return values


# --- Data Docs -> HTML -------------------------------------------------------------------------------------

def data_docs_pages(report_dir: str | Path) -> list[Path]:
    """The Data Docs pages worth showing: validation-result pages if any, else the site's index.html."""
    root = Path(report_dir)
    pages = sorted(root.rglob("*.html"))
    results = [p for p in pages if "validations" in p.relative_to(root).parts]
    if results:
        return results
    index = sorted((p for p in pages if p.name == "index.html"), key=lambda p: len(p.parts))
    return index[:1] or pages[:1]


def publish_html(report_dir: str | Path, html_path: str | Path) -> list[Path]:
    """Write one self-contained HTML file for the KFP UI: the single page as is, or every page in an
    ``<iframe srcdoc>`` (the UI shows one file, and Data Docs link between files)."""
    pages = data_docs_pages(report_dir)
    out = Path(html_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(pages) == 1:
        shutil.copyfile(pages[0], out)
        return pages
    root = Path(report_dir)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Data Docs</title></head><body>"]
    if not pages:
        parts.append("<p>The validation step wrote no HTML Data Docs.</p>")
    for page in pages:
        name = html.escape(str(page.relative_to(root)))
        body = html.escape(page.read_text(encoding="utf-8", errors="replace"), quote=True)
        parts.append(f"<h2>{name}</h2><iframe style='width:100%;height:900px;border:0' srcdoc=\"{body}\"></iframe>")
    parts.append("</body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")
    return pages


# --- Confusion matrices -> ClassificationMetrics -----------------------------------------------------------

def confusion_matrices(eval_dir: str | Path, tasks: Iterable[str] = TASK_NAMES
                       ) -> dict[str, tuple[list[str], list[list[int]]]]:
    """``{task: (labels, matrix)}`` from ``report.json``, the one layout ``mtst evaluate`` writes:
    ``tasks.<task>.confusion.{labels, matrix}`` (rows actual). A task the variant does not serve is left out."""
    report = read_json(eval_dir, REPORT)
    out: dict[str, tuple[list[str], list[list[int]]]] = {}
    for task in tasks:
        confusion = ((report.get("tasks") or {}).get(task) or {}).get("confusion")
        if confusion:
            out[task] = ([str(x) for x in confusion["labels"]], [[int(x) for x in row] for row in confusion["matrix"]])
    return out


def log_confusion_matrices(eval_dir: str | Path, artifacts: Mapping[str, Any]) -> list[str]:
    """``artifacts``: ``{task: ClassificationMetrics}``; returns the tasks whose matrix was logged."""
    found = confusion_matrices(eval_dir, artifacts.keys())
    for task, (labels, matrix) in found.items():
        artifacts[task].log_confusion_matrix(labels, matrix)
    return sorted(found)
