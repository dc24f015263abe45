"""A validation report on the pipeline's parent run, logged by the validate step that wrote it.

Each report folder of the pipeline (``artifacts/validation``: the raw data and splits; ``artifacts/
validation_augmented``: the augmented Task B split) is one set named after its folder: its files (``report.json``
and the GX Data Docs) as artifacts under ``<name>/``, the report's numbers as metrics ``<name>.<key>`` (e.g.
``validation.batches.splits/task_a/test.rows``) and its outcome as the tag ``mtst.validation_success`` (false
when any set failed). Only a passing report lands in its folder, so only passing runs are logged; a failure
stops the pipeline before anything else logs. Re-logging the same set overwrites its artifacts and adds the
same metric values at step 0 again, so a re-run changes nothing visible.
"""

from __future__ import annotations

import json
from pathlib import Path

from mtst.evaluation.flatten import flatten
from mtst.run_tags import VALIDATION_SUCCESS
from mtst.tracking.store import Tracker, guard
from mtst.tracking.values import numeric
from mtst.validation import REPORT



def log_validation(tracker: Tracker, run_id: str, report_dir: str | Path) -> str:
    """Log the report folder ``report_dir`` on the run ``run_id`` as the set named after the folder; returns
    that name."""
    report_dir = Path(report_dir)
    name = report_dir.name
    report = json.loads((report_dir / REPORT).read_text(encoding="utf-8"))
    values = flatten(report, name)
    with guard(tracker.uri, f"logging the validation report {report_dir} on the parent run {run_id}"):
        tracker.client.log_artifacts(run_id, str(report_dir), name)
        tracker.log_metrics(run_id, ((k, v, 0) for k, v in values.items() if numeric(v)))
        passed = values.get(f"{name}.success") is True
        earlier = tracker.client.get_run(run_id).data.tags.get(VALIDATION_SUCCESS)
        tracker.set_tags(run_id, {VALIDATION_SUCCESS: str(passed and earlier != "false").lower()})
    return name
