"""Shared fixtures. Everything here is real: the packaged encoder, the real datasets in data/ (made by
`make data` before the tests), real files on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets, materialised by `make data` (`mtst data fetch`)."""
    path = ROOT / "data"
    if not (path / "task_a.jsonl").exists():
        from mtst.config import DataParams
        from mtst.steps import fetch

        fetch.run(DataParams(), path)
    return path


@pytest.fixture(scope="session")
def task_frames(data_dir: Path):
    from mtst.data.datasets import read_jsonl_frame

    return {task: read_jsonl_frame(data_dir / f"{task}.jsonl") for task in ("task_a", "task_b")}


@pytest.fixture(scope="session")
def base_model():
    from mtst.data.datasets import TASK_LABELS
    from mtst.model import MultiTaskSentenceTransformer

    return MultiTaskSentenceTransformer({t: list(labels) for t, labels in TASK_LABELS.items()})
