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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of the container images run last: `make test` builds the images in the background meanwhile
    (a cold build takes minutes), and their `images` fixture waits for that build."""
    items.sort(key=lambda item: "images" in getattr(item, "fixturenames", ()))


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


# ---- evaluation / tracking / comparison (issue #5): real small training, a real mlflow server ----------
@pytest.fixture(scope="session")
def mini_splits(data_dir: Path, tmp_path_factory) -> Path:
    """Small stratified splits of the real data (train 200, validation 75, test 90 per task)."""
    from helpers.training import make_mini_splits

    return make_mini_splits(data_dir, tmp_path_factory.mktemp("mini") / "splits")


@pytest.fixture(scope="session")
def train_dirs(mini_splits: Path, tmp_path_factory):
    """Training folders in the trainer's output contract, built lazily per variant by real (small) training."""
    from helpers.training import TrainDirs

    return TrainDirs(tmp_path_factory.mktemp("train"), mini_splits)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on a free loopback port with its own SQLite store."""
    from helpers.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tracked_pipeline(mlflow_server, train_dirs, mini_splits: Path, tmp_path_factory):
    """evaluate (every fixture variant) → compare, logged over HTTP to `mlflow_server`."""
    from helpers.pipeline import run_tracked_pipeline

    return run_tracked_pipeline(mlflow_server.uri, train_dirs, mini_splits, tmp_path_factory.mktemp("pipeline"))


# ---- the smoke DAG, run once by `dvc repro`: the reference of every runner -----------------------------------
@pytest.fixture(scope="session")
def dvc_smoke(repo_root: Path, data_dir: Path, tmp_path_factory):
    """`dvc repro` of the smoke profile in a copy of the repository (tests/helpers/smoke.py)."""
    from helpers.smoke import run_dvc_smoke

    return run_dvc_smoke(repo_root, data_dir, tmp_path_factory.mktemp("dvc") / "repo")
