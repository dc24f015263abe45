"""`dvc repro` runs the whole DAG end to end on the smoke profile in a fresh copy of the repository (the
session's `dvc_smoke`, the reference the kfp runners are compared with), then does nothing on a second run;
DVC's metrics, params, plots, experiments and remote work on the result."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys

import pytest
import yaml

from helpers.smoke import commit, sh

VARIANTS = ["frozen", "full", "staged", "head_a_frozen", "single_a", "single_b"]


@pytest.mark.timeout(1500)
def test_dvc_repro_end_to_end_then_nothing_reruns(dvc_smoke):
    work, env = dvc_smoke.work, dvc_smoke.env
    dvc = [sys.executable, "-m", "dvc"]
    assert "Running stage 'train@staged'" in dvc_smoke.first_stdout

    for variant in VARIANTS:
        metrics = json.loads((work / "metrics" / f"{variant}.json").read_text())
        tasks = ["task_a"] if variant == "single_a" else ["task_b"] if variant == "single_b" else ["task_a", "task_b"]
        for task in tasks:
            assert 0 < metrics[f"{task}.macro_f1"] <= 1
    report = (work / "reports" / "comparison.md").read_text()
    assert all(v in report for v in VARIANTS) and (work / "reports" / "comparison.png").stat().st_size > 1000

    with sqlite3.connect(work / "mlflow.db") as db:
        names = {row[0] for row in db.execute("select name from runs where lifecycle_stage = 'active'")}
    assert set(VARIANTS) <= names and any(n.startswith("pipeline") for n in names)

    again = sh([*dvc, "repro"], work, env)
    assert "Running stage" not in again.stdout, again.stdout
    assert "Data and pipelines are up to date" in again.stdout or "didn't change" in again.stdout
    commit(work, env, "pipeline results")


def _stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


@pytest.mark.timeout(600)
def test_dvc_tools_on_the_finished_pipeline(dvc_smoke):
    work, env = dvc_smoke.work, dvc_smoke.env
    dvc = [sys.executable, "-m", "dvc"]
    if "pipeline results" not in sh(["git", "log", "--format=%s"], work, env).stdout:
        pytest.fail("runs after test_dvc_repro_end_to_end_then_nothing_reruns (it commits the results)")
    shown = json.loads(sh([*dvc, "metrics", "show", "--json"], work, env).stdout)
    assert "metrics/staged.json" in json.dumps(shown)

    # One variant's params change: only that variant, its evaluation and the comparison re-run.
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["train"]["variants"]["frozen"]["stages"][0]["lr_head"] = 0.02
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    diff = json.loads(sh([*dvc, "params", "diff", "--json"], work, env).stdout)
    assert "train.variants.frozen" in json.dumps(diff)
    status = json.loads(sh([*dvc, "status", "--json"], work, env).stdout)
    assert set(status) == {"train@frozen"}, status
    rerun = sh([*dvc, "repro"], work, env)
    assert _stages_run(rerun.stdout) == {"train@frozen", "evaluate@frozen", "compare"}, rerun.stdout
    commit(work, env, "frozen with lr_head 0.02")

    plots = sh([*dvc, "plots", "show", "--json"], work, env)
    assert "confusion_task_b" in plots.stdout

    # An experiment that only touches the comparison re-runs only that stage.
    exp = sh([*dvc, "exp", "run", "-S", "compare.tolerance=2.0"], work, env)
    assert _stages_run(exp.stdout) == {"compare"}, exp.stdout
    table = sh([*dvc, "exp", "show", "--json"], work, env).stdout
    assert "staged.json" in table and "tolerance" in table

    # The default local remote: push, drop the cache and outputs, pull them back.
    sh([*dvc, "push"], work, env)
    shutil.rmtree(work / ".dvc" / "cache")
    shutil.rmtree(work / "artifacts" / "train" / "staged")
    sh([*dvc, "pull"], work, env)
    assert (work / "artifacts" / "train" / "staged" / "model" / "heads.safetensors").exists()
    assert (work / ".dvcstore").is_dir()
