"""The sentences inference is timed on: the same seeded mix of every task's split for every variant, so a
multi-task model (one encoder pass serves both tasks) and single-task models are timed on equal input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtst.data.datasets import load_split, split_path
from mtst.evaluation.errors import EvaluationError
from mtst.tasks import TASK_NAMES


def throughput_sample(splits_dir: Path, split: str, n: int, seed: int) -> list[str]:
    """``n`` sentences (fewer if the splits are smaller) drawn without replacement from the ``split`` split of
    every task that has one, whatever tasks the timed model has."""
    texts: list[str] = []
    for task in TASK_NAMES:
        if split_path(splits_dir, task, split).exists():
            texts.extend(load_split(splits_dir, task, split)["text"].tolist())
    if not texts:
        raise EvaluationError(f"{splits_dir} holds no {split} split to time inference on")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in picked]
