"""DAG node ``prepare``: per-task split files with the profile's limits applied.

The fixed splits in ``data/`` never change with the profile; this step takes the scarce Task B training
subset (stratified by domain and label) and, for fast profiles, caps the other splits. Validation and test
caps sample rows stratified too, so a smoke run still sees every class.

It also records each task's label set (``labels.json``, ``mtst.contracts.data.Labels``: the sorted labels of the
task's whole dataset, before any limit), which validate, augment and train then read instead of deciding it
again; a class that a limit left out of a split is then a validation failure, not a smaller model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtst.config import PrepareParams
from mtst.data import SPLITS, SUMMARY
from mtst.contracts.data import LABELS, Labels
from mtst.data.datasets import labels_in, read_jsonl_frame, split_path
from mtst.data.splits import stratified_sample
from mtst.io import atomic_dir, write_json, write_jsonl
from mtst.tasks import TASK_NAMES
from mtst.dag import LAYOUT


def run(params: PrepareParams, data_dir: str | Path = LAYOUT.data, out_dir: str | Path = LAYOUT.splits) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    labels: dict[str, list[str]] = {}
    limits = {("task_a", "train"): params.task_a_train_limit, ("task_b", "train"): params.task_b_train_limit,
              ("task_a", "validation"): params.validation_limit, ("task_b", "validation"): params.validation_limit,
              ("task_a", "test"): params.test_limit, ("task_b", "test"): params.test_limit}
    with atomic_dir(out_dir) as tmp:
        for task in TASK_NAMES:
            frame = read_jsonl_frame(Path(data_dir) / f"{task}.jsonl")
            labels[task] = labels_in(frame)
            strata = ["domain", "label"] if "domain" in frame.columns else ["label"]
            summary[task] = {}
            for split in SPLITS:
                part = frame[frame["split"] == split]
                limit = limits[(task, split)]
                if limit is not None:
                    part = stratified_sample(part, limit, strata, params.seed)
                write_jsonl(split_path(tmp, task, split), part.to_dict(orient="records"))
                counts = {str(k): int(v) for k, v in part["label"].value_counts().sort_index().items()}
                summary[task][split] = {**counts, "total": int(len(part))}
        write_json(Path(tmp) / SUMMARY, summary)
        Labels(labels).write(Path(tmp) / LABELS)
    return summary
