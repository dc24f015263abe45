"""DAG node ``validate``: Great Expectations suites over the raw data, the splits and (optionally) the
augmented Task B split, run as one GX Checkpoint that also builds the Data Docs.

Outputs (written atomically; nothing at all when validation fails):

- ``<out>/report.json``: every file's row count, expectations evaluated, warnings, the class-balance report
  (no timing: the seconds are returned and printed, so a rerun writes the same report bytes);
- ``<out>/data_docs/index.html``: the GX Data Docs site (GX stamps run times and random ids into it).

On failure it raises ``ValidationFailed`` (the CLI prints its summary and exits 2), leaves ``<out>`` as it
was, and writes the report and Data Docs of the failed run to the sibling ``<out>-failed/`` instead, so the
failure can be inspected without any later step mistaking it for a result. A later successful run removes
``<out>-failed/`` (in one rename, just before its own output lands).

With ``tracking``, a passing report of the pipeline's data (``run``, not ``run_files``: users' own files are
no part of a pipeline run) is logged on the pipeline's parent run as the set named after ``<out>``
(``mtst.tracking.validation``): ``validation`` for the raw data and splits, ``validation_augmented`` for the
augmented split, each with its Data Docs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mtst.config import TrackingParams, ValidateParams
from mtst.data.datasets import task_labels
from mtst.io import atomic_dir, remove_owned, write_json
from mtst.validation import Table, ValidationFailed, check, failures_of, pipeline_tables, user_tables
from mtst.dag import LAYOUT
from mtst.tasks import TASK_NAMES
from mtst.validation import REPORT


def failed_dir(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(f"{out_dir.name}-failed")


def validate_tables(tables: list[Table], params: ValidateParams, out_dir: str | Path | None,
                    labels: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Check ``tables`` (against ``labels``, the prepared data's label sets, unless ``params.labels`` declares them);
    with ``out_dir``, write the report and Data Docs there (or to ``<out>-failed``)."""
    if out_dir is None:
        report = check(tables, params, labels=labels)
        if not report["success"]:
            raise ValidationFailed(failures_of(report))
        return report
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        report = check(tables, params, docs_dir=tmp / "data_docs", labels=labels)
        report["data_docs"] = str(out_dir / "data_docs" / "index.html")
        if not report["success"]:
            where = failed_dir(out_dir)
            report["data_docs"] = str(where / "data_docs" / "index.html")
            write_json(tmp / REPORT, without_timing(report))
            with atomic_dir(where) as failed_tmp:
                for child in tmp.iterdir():
                    shutil.move(str(child), failed_tmp / child.name)
            raise ValidationFailed(failures_of(report), where=str(where))
        write_json(tmp / REPORT, without_timing(report))
        remove_owned(failed_dir(out_dir))  # renamed away before the new report lands: never a stale failure next to a success
    return report


def without_timing(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "seconds"}


def run(params: ValidateParams, splits_dir: str | Path | None, out_dir: str | Path | None = LAYOUT.validation,
        data_dir: str | Path | None = LAYOUT.data, augmented_dir: str | Path | None = None, *,
        tracking: TrackingParams | None = None, pipeline_params: dict[str, Any] | None = None,
        pipeline_id: str | None = None) -> dict[str, Any]:
    """Validate ``data_dir`` (raw datasets), ``splits_dir`` (split files) and ``augmented_dir`` (augmented
    Task B train, checked against the validation and test splits); ``None`` skips one. Labels are checked against
    the label sets recorded with the split files (``validate.labels`` overrides them). With ``tracking`` given
    and enabled (and an ``out_dir`` to log), the passing report goes on the parent run of the pipeline run
    ``pipeline_id`` (None: the default identity, ``mtst.tracking.default_pipeline_id``)."""
    tables = pipeline_tables(data_dir, splits_dir, augmented_dir)
    if not tables:
        raise ValueError("nothing to validate: give data_dir, splits_dir or augmented_dir")
    track = tracking is not None and tracking.enabled and out_dir is not None
    if track:
        from mtst.tracking import preflight

        preflight(tracking)  # fail in seconds, before the checkpoint runs
    labels = {task: task_labels(splits_dir, task) for task in TASK_NAMES} if splits_dir is not None else None
    report = validate_tables(tables, params, out_dir, labels)
    if track:
        from mtst import tracking as mt

        tracker = mt.Tracker.open(tracking)
        parent = mt.pipeline_run(tracker, pipeline_params, pipeline_id=pipeline_id)
        report["mlflow"] = {"parent_run_id": parent, "logged_as": mt.log_validation(tracker, parent, out_dir)}
    return report


def run_files(params: ValidateParams, files: list[str | Path], task: str,
              out_dir: str | Path | None = None) -> dict[str, Any]:
    """Validate users' own files for ``task`` before pointing params.yaml at them: against ``params.labels`` when it
    declares the task's, else against the files' own labels (every label needs ``min_per_class`` rows per split)."""
    return validate_tables(user_tables(files, task), params, out_dir)
