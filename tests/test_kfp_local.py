"""`mtst kfp run-local`: the compiled pipeline's DAG run end to end with kfp.local.SubprocessRunner on the
smoke profile, and its metrics equal those of the DVC path (the session's `dvc repro` of the smoke profile:
the same `mtst` stage commands, the same params).

Everything is real: the datasets, the packaged encoder, training, Great Expectations, MLflow (a SQLite
store in a temporary folder). Only the platform settings (resources, GPUs, Kubernetes ConfigMap / Secret)
have no local effect."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from helpers.smoke import assert_same_metrics
from mtst.config import read_params_dict
from pipelines.multitask_pipeline import build_pipeline


def smoke_params(repo_root: Path, folder: Path) -> Path:
    """The smoke profile merged into one params file, as `mtst params use smoke` would write it."""
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(read_params_dict(repo_root / "params.yaml", "smoke"), sort_keys=False))
    return path


def executor_output(task_dir: Path) -> dict:
    return json.loads((task_dir / "executor_output.json").read_text())["artifacts"]


@pytest.fixture()
def local_env(tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    monkeypatch.setenv("NLTK_DATA", str(repo_root / ".cache" / "nltk_data"))
    monkeypatch.delenv("MTST_PIPELINE_ID", raising=False)
    (tmp_path / "mlflow").mkdir()
    return tmp_path


def test_run_local_smoke_matches_dvc_path(local_env, repo_root, data_dir, dvc_smoke):
    from mtst.kfp.local import run_local

    params = smoke_params(repo_root, local_env)
    result = run_local(build_pipeline, params_path=params, variants=["frozen"], root=local_env / "kfp")
    run_dir = Path(result["run_dir"])
    assert result["variants"] == ["frozen"] and set(result["evaluations"]) == {"frozen"}

    # the data task's output is the same fetch as data/ (deterministic), and the splits are the profile's
    for name in ("task_a.jsonl", "task_b.jsonl"):
        assert (run_dir / "data" / "dataset" / name).read_bytes() == (data_dir / name).read_bytes()
    # typed artifacts for the KFP UI
    data_out = executor_output(run_dir / "data")
    assert data_out["metrics"]["artifacts"][0]["metadata"]["prepare.task_b.train.total"] == \
        read_params_dict(params)["prepare"]["task_b_train_limit"]
    assert (run_dir / "validate" / "data_docs").read_text().lstrip().lower().startswith(("<!doctype html", "<html"))
    assert (run_dir / "augment" / "augmented" / "task_b" / "train.jsonl").exists()
    evaluate_dir = Path(result["evaluations"]["frozen"]).parent
    evaluated = executor_output(evaluate_dir)
    for task, n in (("task_a", 5), ("task_b", 3)):
        matrix = evaluated[f"{task}_confusion"]["artifacts"][0]["metadata"]["confusionMatrix"]
        assert len(matrix["annotationSpecs"]) == n and len(matrix["rows"]) == n
    kfp_metrics = json.loads((Path(result["evaluations"]["frozen"]) / "metrics.json").read_text())
    assert evaluated["metrics"]["artifacts"][0]["metadata"]["task_a.macro_f1"] == pytest.approx(kfp_metrics["task_a.macro_f1"])
    comparison = Path(result["comparison"]).read_text()
    assert "frozen" in comparison

    assert_same_metrics(kfp_metrics, dvc_smoke.metrics["frozen"], "frozen")


@pytest.mark.slow
def test_run_local_followup_wave_and_mlflow_grouping(local_env, repo_root, dvc_smoke):
    """Both ParallelFor waves: head_a_frozen starts from staged's model (collected from the first wave)."""
    import mlflow

    from mtst.kfp.local import run_local

    params = smoke_params(repo_root, local_env)
    result = run_local(build_pipeline, params_path=params, variants=["frozen", "head_a_frozen"], root=local_env / "kfp")
    assert result["variants"] == ["frozen", "staged", "head_a_frozen"]
    assert set(result["evaluations"]) == {"frozen", "staged", "head_a_frozen"}
    run_dir = Path(result["run_dir"])
    assert (run_dir / "collect-init-models" / "init_models" / "staged" / "model" / "mtst.json").exists()

    # one MLflow parent run for the KFP run, one child per variant, finished by compare
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(read_params_dict(params)["tracking"]["experiment"])
    children = client.search_runs([experiment.experiment_id], "tags.`mtst.role` = 'variant'")
    assert sorted(r.data.tags["mtst.variant"] for r in children) == ["frozen", "head_a_frozen", "staged"]
    (parent_id,) = {r.data.tags["mlflow.parentRunId"] for r in children}
    assert client.get_run(parent_id).info.status == "FINISHED"

    kfp_metrics = {v: json.loads((Path(d) / "metrics.json").read_text()) for v, d in result["evaluations"].items()}
    for variant in ("frozen", "staged", "head_a_frozen"):
        assert_same_metrics(kfp_metrics[variant], dvc_smoke.metrics[variant], variant)
