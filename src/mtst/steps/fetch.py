"""DAG node ``fetch``: materialise both task datasets, with their fixed splits, into ``data/``.

The output is byte-for-byte deterministic (sorted inputs, seeded splits, sorted JSON keys), so the
``data.dvc`` hash committed in git matches what a fresh clone produces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtst.config import DataParams
from mtst.data import SUMMARY
from mtst.data.datasets import build_task
from mtst.data.splits import split_counts
from mtst.io import atomic_dir, write_json, write_jsonl
from mtst.tasks import TASKS
from mtst.dag import LAYOUT


def run(params: DataParams, out_dir: str | Path = LAYOUT.data) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    with atomic_dir(out_dir) as tmp:
        for task in TASKS:
            frame = build_task(task.name, params)
            write_jsonl(tmp / f"{task.name}.jsonl", frame.to_dict(orient="records"))
            summary[task.name] = {"name": task.short, "rows": int(len(frame)),
                             "groups": int(frame["group"].nunique()), "splits": split_counts(frame)}
        write_json(tmp / SUMMARY, summary)
    return summary
