"""DAG node ``fetch``: materialise both task datasets, with their fixed splits, into ``data/``.

The output is byte-for-byte deterministic (sorted inputs, seeded splits, sorted JSON keys), so the
``data.dvc`` hash committed in git matches what a fresh clone produces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtst.config import DataParams
from mtst.data import TASKS
from mtst.data.datasets import TASK_NAMES, build_task
from mtst.data.splits import split_counts
from mtst.io import atomic_dir, write_json, write_jsonl


def run(params: DataParams, out_dir: str | Path = "data") -> dict[str, Any]:
    summary: dict[str, Any] = {}
    with atomic_dir(out_dir) as tmp:
        for task in TASKS:
            frame = build_task(task, params)
            write_jsonl(tmp / f"{task}.jsonl", frame.to_dict(orient="records"))
            summary[task] = {"name": TASK_NAMES[task], "rows": int(len(frame)),
                             "groups": int(frame["group"].nunique()), "splits": split_counts(frame)}
        write_json(tmp / "summary.json", summary)
    return summary
