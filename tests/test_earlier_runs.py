"""The comparison's use of earlier runs in MLflow (``mtst.comparison.earlier_runs``): a variant's runs over seeds
with their mean and t-interval, and the ablations this run did not train, each row naming its run. Real
evaluate and compare steps over the fixture variants, logged to a real SQLite MLflow store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats

from helpers.training import TrainDirs
from mtst.config import CompareParams, EvaluateParams, TrackingParams
from mtst.training import fingerprint as fp

EVALUATE = EvaluateParams(throughput_sentences=16, throughput_repeats=1)
COMPARE = CompareParams(bootstrap=0, measure_inference=False, serving_backends=[])
TRACKING = TrackingParams(log_model=False)


def test_the_recipe_is_the_fingerprint_without_the_seed():
    base = {"variant.name": '"staged"', "train.seed": "13", "train.batch_size": "32", "data.train.task_b": "abc"}
    assert fp.recipe(base) == fp.recipe({**base, "train.seed": "14"})
    assert fp.recipe(base) != fp.recipe({**base, "train.batch_size": "16"})
    assert fp.recipe(base) != fp.recipe({**base, "data.train.task_b": "abd"})


@pytest.fixture(scope="module")
def seed_14_dirs(mini_splits: Path, tmp_path_factory) -> TrainDirs:
    return TrainDirs(tmp_path_factory.mktemp("train14"), mini_splits, seed=14)


def _pipeline(root: Path, store: str, pipeline_id: str, dirs: dict[str, Path], splits: Path,
              monkeypatch: pytest.MonkeyPatch) -> dict:
    """evaluate each of ``dirs`` under one parent run, then compare them: the pipeline's last two steps."""
    from mtst.steps import compare, evaluate

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    eval_dirs = []
    for variant, train_dir in dirs.items():
        eval_dirs.append(root / pipeline_id / "eval" / variant)
        evaluate.run(EVALUATE, train_dir, splits, eval_dirs[-1], tracking=TRACKING,
                     pipeline_params={"pipeline": pipeline_id}, pipeline_id=pipeline_id)
    compare.run(COMPARE, eval_dirs, root / pipeline_id / "reports", tracking=TRACKING, pipeline_id=pipeline_id)
    return json.loads((root / pipeline_id / "reports" / "comparison.json").read_text())


def _metric(root: Path, pipeline_id: str, variant: str, key: str) -> float:
    return json.loads((root / pipeline_id / "eval" / variant / "metrics.json").read_text())[key]


def test_seeds_and_earlier_ablations_come_from_mlflow(train_dirs, seed_14_dirs, mini_splits, tmp_path, monkeypatch):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # run 1, seed 13: staged and its ablation staged_static
    _pipeline(tmp_path, store, "run1", {v: train_dirs[v] for v in ("frozen", "staged", "staged_static")},
              mini_splits, monkeypatch)
    # run 2, seed 14: staged and frozen only
    second = _pipeline(tmp_path, store, "run2", {v: seed_14_dirs[v] for v in ("frozen", "staged")},
                       mini_splits, monkeypatch)

    seeds = {row["variant"]: row for row in second["seeds"]}
    assert seeds["frozen"]["seeds"] == [13, 14] and seeds["staged"]["seeds"] == [13, 14]
    values = [_metric(tmp_path, run, "frozen", "task_b.macro_f1") for run in ("run1", "run2")]
    mean = sum(values) / 2
    half = stats.t.ppf(0.975, 1) * stats.tstd(values) / math.sqrt(2)
    got = seeds["frozen"]["task_b"]
    assert got["n"] == 2 and got["mean"] == pytest.approx(mean, abs=1e-6)
    assert got["low"] == pytest.approx(mean - half, abs=1e-6) and got["high"] == pytest.approx(mean + half, abs=1e-6)

    # run 2 trained no ablation, and its staged has seed 14: run 1's staged_static (seed 13) does not pair with it
    assert second["ablation"] is None

    # run 3, seed 13 again, staged only: run 1's staged_static is read back from MLflow, its run named
    third = _pipeline(tmp_path, store, "run3", {"staged": train_dirs["staged"]}, mini_splits, monkeypatch)
    rows = {r["variant"]: r for r in third["ablation"]["rows"]}
    assert set(rows) == {"staged", "staged_static"}
    static = rows["staged_static"]
    assert static["source"].startswith("MLflow run ") and rows["staged"]["source"] is None
    assert static["task_b"] == pytest.approx(_metric(tmp_path, "run1", "staged_static", "task_b.macro_f1"))
    expected = 100 * (static["task_b"] - _metric(tmp_path, "run3", "staged", "task_b.macro_f1"))
    assert static["delta_b"] == pytest.approx(expected)
    assert "loss" in " ".join(static["axes"]) or static["changes"] != "no parameter differs"
    markdown = (tmp_path / "run3" / "reports" / "comparison.md").read_text()
    assert "| staged_static |" in markdown and "MLflow run " in markdown
    assert "## Over seeds" in markdown and "| staged | 13, 14 |" in markdown


def test_an_evaluation_after_the_pipeline_finished_is_closed_by_the_next_comparison(train_dirs, mini_splits,
                                                                                 tmp_path, monkeypatch):
    """``make ablations`` after ``make run``: its evaluations open a parent of their own (the pipeline's is
    finished); the comparison logs on the parent most evaluations share and finishes both."""
    from mlflow import MlflowClient

    from mtst.steps import compare, evaluate

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _pipeline(tmp_path, store, "run", {v: train_dirs[v] for v in ("frozen", "staged")}, mini_splits, monkeypatch)
    later = tmp_path / "run" / "eval" / "staged_static"
    evaluate.run(EVALUATE, train_dirs["staged_static"], mini_splits, later, tracking=TRACKING,
                 pipeline_params={"pipeline": "run"}, pipeline_id="run")
    eval_dirs = [tmp_path / "run" / "eval" / v for v in ("frozen", "staged", "staged_static")]
    parent_of = {d.name: json.loads((d / "mlflow.json").read_text())["parent_run_id"] for d in eval_dirs}
    client = MlflowClient(tracking_uri=store)
    first, second = parent_of["staged"], parent_of["staged_static"]
    assert first != second and client.get_run(second).info.status == "RUNNING"

    compare.run(COMPARE, eval_dirs, tmp_path / "run" / "reports-again", tracking=TRACKING)
    assert client.get_run(first).info.status == client.get_run(second).info.status == "FINISHED"
    assert "comparison/comparison.json" in {a.path for a in client.list_artifacts(first, "comparison")}
