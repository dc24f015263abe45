"""`dvc repro` runs the whole DAG end to end on the smoke profile in a fresh copy of the repository, then
does nothing on a second run; DVC's metrics, params, plots, experiments and remote work on the result."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

VARIANTS = ["frozen", "full", "staged", "head_a_frozen", "single_a", "single_b"]


def _sh(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def pipeline_repo(repo_root, data_dir, tmp_path_factory):
    """A copy of the tracked files plus data/, committed to a fresh git repo, on the smoke profile."""
    work = tmp_path_factory.mktemp("dvc") / "repo"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=repo_root,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (repo_root / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / name, work / name)
    shutil.copytree(data_dir, work / "data")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MTST_EMBEDDING_CACHE": str(repo_root / ".cache" / "embeddings"),
           "NLTK_DATA": os.environ.get("NLTK_DATA", str(repo_root / ".cache" / "nltk_data"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    _sh([f"{bin_dir}/mtst", "params", "use", "smoke"], work, env)
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        _sh(cmd, work, env)
    return work, env


@pytest.mark.timeout(1500)
def test_dvc_repro_end_to_end_then_nothing_reruns(pipeline_repo):
    work, env = pipeline_repo
    dvc = [sys.executable, "-m", "dvc"]
    first = _sh([*dvc, "repro"], work, env)
    assert "Running stage 'train@staged'" in first.stdout

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

    again = _sh([*dvc, "repro"], work, env)
    assert "Running stage" not in again.stdout, again.stdout
    assert "Data and pipelines are up to date" in again.stdout or "didn't change" in again.stdout
    _commit(work, env, "pipeline results")


def _commit(work: Path, env: dict[str, str], message: str) -> None:
    _sh(["git", "add", "-A"], work, env)
    _sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], work, env)


def _stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


@pytest.mark.timeout(600)
def test_dvc_tools_on_the_finished_pipeline(pipeline_repo):
    work, env = pipeline_repo
    dvc = [sys.executable, "-m", "dvc"]
    if not (work / "metrics" / "staged.json").exists():
        pytest.fail("runs after test_dvc_repro_end_to_end_then_nothing_reruns")
    shown = json.loads(_sh([*dvc, "metrics", "show", "--json"], work, env).stdout)
    assert "metrics/staged.json" in json.dumps(shown)

    # One variant's params change: only that variant, its evaluation and the comparison re-run.
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["train"]["variants"]["frozen"]["stages"][0]["lr_head"] = 0.02
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    diff = json.loads(_sh([*dvc, "params", "diff", "--json"], work, env).stdout)
    assert "train.variants.frozen" in json.dumps(diff)
    status = json.loads(_sh([*dvc, "status", "--json"], work, env).stdout)
    assert set(status) == {"train@frozen"}, status
    rerun = _sh([*dvc, "repro"], work, env)
    assert _stages_run(rerun.stdout) == {"train@frozen", "evaluate@frozen", "compare"}, rerun.stdout
    _commit(work, env, "frozen with lr_head 0.02")

    plots = _sh([*dvc, "plots", "show", "--json"], work, env)
    assert "confusion_task_b" in plots.stdout

    # An experiment that only touches the comparison re-runs only that stage.
    exp = _sh([*dvc, "exp", "run", "-S", "compare.tolerance=2.0"], work, env)
    assert _stages_run(exp.stdout) == {"compare"}, exp.stdout
    table = _sh([*dvc, "exp", "show", "--json"], work, env).stdout
    assert "staged.json" in table and "tolerance" in table

    # The default local remote: push, drop the cache and outputs, pull them back.
    _sh([*dvc, "push"], work, env)
    shutil.rmtree(work / ".dvc" / "cache")
    shutil.rmtree(work / "artifacts" / "train" / "staged")
    _sh([*dvc, "pull"], work, env)
    assert (work / "artifacts" / "train" / "staged" / "model" / "heads.safetensors").exists()
    assert (work / ".dvcstore").is_dir()
