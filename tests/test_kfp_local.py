"""`mtst kfp run-local`: the compiled pipeline's DAG run end to end with kfp.local.SubprocessRunner on the
smoke profile, and its metrics equal those of the DVC path (the `mtst` stage commands) for the same params.

Everything is real: the datasets, the packaged encoder, training, Great Expectations, MLflow (a SQLite
store in a temporary folder). Only the platform settings (resources, GPUs, Kubernetes ConfigMap / Secret)
have no local effect."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mtst.config import read_params_dict
from pipelines.multitask_pipeline import build_pipeline

MTST = str(Path(sys.executable).parent / "mtst")
# Timing-dependent metrics differ between any two runs; everything else must match.
TIMING_PREFIXES = ("inference.", "train.wall_s")


def smoke_params(repo_root: Path, folder: Path) -> Path:
    """The smoke profile merged into one params file, as `mtst params use smoke` would write it."""
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(read_params_dict(repo_root / "params.yaml", "smoke"), sort_keys=False))
    return path


def mtst(*args: str, cwd: Path) -> None:
    proc = subprocess.run([MTST, *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"mtst {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def dvc_path_metrics(repo_root: Path, data_dir: Path, params: Path, out: Path, variants: list[str]) -> dict[str, dict]:
    """The DVC stages' commands (prepare -> augment -> train -> evaluate) for the same params; a follow-up
    finds its source's model next to its own output (mtst.plan), as in dvc.yaml."""
    common = ["--params", str(params)]
    mtst("data", "prepare", "--data-dir", str(data_dir), "--out", str(out / "splits"), *common, cwd=repo_root)
    mtst("augment", "--splits", str(out / "splits"), "--out", str(out / "augmented"), "--no-progress", *common, cwd=repo_root)
    metrics = {}
    for variant in variants:
        mtst("train", "--variant", variant, "--splits", str(out / "splits"), "--augmented", str(out / "augmented"),
             "--out", str(out / "train" / variant), *common, cwd=repo_root)
        mtst("evaluate", "--train-dir", str(out / "train" / variant), "--splits", str(out / "splits"),
             "--out", str(out / "eval" / variant), "--metrics", str(out / "metrics" / f"{variant}.json"),
             "--no-track", *common, cwd=repo_root)
        metrics[variant] = json.loads((out / "eval" / variant / "metrics.json").read_text())
    return metrics


def assert_same_metrics(kfp: dict, dvc: dict, variant: str) -> None:
    keys = {k for k in dvc if not k.startswith(TIMING_PREFIXES)}
    assert {"task_a.macro_f1", "task_b.macro_f1"} <= keys
    assert keys == {k for k in kfp if not k.startswith(TIMING_PREFIXES)}, variant
    for key in sorted(keys):
        if isinstance(dvc[key], (int, float)):
            assert math.isclose(kfp[key], dvc[key], rel_tol=1e-6, abs_tol=1e-6), (variant, key, kfp[key], dvc[key])
        else:
            assert kfp[key] == dvc[key], (variant, key)


def executor_output(task_dir: Path) -> dict:
    return json.loads((task_dir / "executor_output.json").read_text())["artifacts"]


@pytest.fixture()
def local_env(tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    monkeypatch.setenv("NLTK_DATA", str(repo_root / ".cache" / "nltk_data"))
    monkeypatch.delenv("MTST_PIPELINE_ID", raising=False)
    monkeypatch.delenv("MTST_PIPELINE_RUN_ID", raising=False)
    (tmp_path / "mlflow").mkdir()
    return tmp_path


def test_run_local_smoke_matches_dvc_path(local_env, repo_root, data_dir):
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

    dvc_metrics = dvc_path_metrics(repo_root, data_dir, params, local_env / "dvc", ["frozen"])
    assert_same_metrics(kfp_metrics, dvc_metrics["frozen"], "frozen")


@pytest.mark.slow
def test_run_local_followup_wave_and_mlflow_grouping(local_env, repo_root, data_dir):
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
    dvc_metrics = dvc_path_metrics(repo_root, data_dir, params, local_env / "dvc", ["frozen", "staged", "head_a_frozen"])
    for variant in dvc_metrics:
        assert_same_metrics(kfp_metrics[variant], dvc_metrics[variant], variant)
