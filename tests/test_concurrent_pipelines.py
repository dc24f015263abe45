"""Two pipelines at once lose nothing (issue 31, item 4): two checkouts of the same commit, data and params logging
to one store keep each other's runs; two `compare` at once leave the champion alias on the better model whatever
the interleaving; two processes opening a fresh SQLite store at once both get it. Every case runs two real
processes against a real MLflow SQLite store; where an interleaving matters, one process holds at a named
instant (a file it waits for) while the other runs through, so the interleaving is the one asked for, every time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtst.config import TrackingParams
from mtst.tracking import Tracker

PYTHON = [sys.executable, "-c"]


def _env(uri: str) -> dict[str, str]:
    """The steps' environment: one store, no pipeline identity given (each checkout finds its own)."""
    env = {k: v for k, v in os.environ.items() if k != "MTST_PIPELINE_ID"}
    env["MLFLOW_TRACKING_URI"] = uri
    return env


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) before {path.name}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"no {path.name} within {timeout} s"
        time.sleep(0.05)


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out.strip().splitlines()[-1]


# ---- two checkouts, one store ----------------------------------------------------------------------------------
TRAINED = """
import json, sys
from pathlib import Path

from mtst.config import TrackingParams, read_params_dict
from mtst.steps.train import log_training_run

# what `mtst train` logs once its training is done
print(json.dumps(log_training_run(Path(sys.argv[1]), Path(sys.argv[2]), TrackingParams(),
                                  read_params_dict("params.yaml"), None)))
"""

PARENT = """
from mtst.config import read_params_dict
from mtst.tracking import Tracker, pipeline_run

print(pipeline_run(Tracker.open(), read_params_dict("params.yaml")))  # as every step finds its parent
"""


def test_two_checkouts_of_the_same_commit_keep_each_others_runs(train_dirs, mini_splits, tmp_path):
    """Checkout A evaluates `frozen` (its child run, with the logged model); then checkout B's `train` of `frozen`
    logs. B used to find A's parent (same commit + data + params) and replace (delete) A's child run."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'shared' / 'mlflow.db'}"
    a, b = tmp_path / "clone-a", tmp_path / "clone-b"
    for checkout in (a, b):  # the same params.yaml, no git, no data.dvc: the same commit, data and params
        checkout.mkdir()
        (checkout / "params.yaml").write_text("evaluate:\n  throughput_sentences: 48\n  throughput_repeats: 1\n")
    step = subprocess.run([sys.executable, "-m", "mtst.cli", "evaluate", "--train-dir", str(train_dirs["frozen"]),
                           "--splits", str(mini_splits), "--out", str(a / "eval"), "--metrics", str(a / "metrics.json")],
                          cwd=a, env=_env(uri), capture_output=True, text=True, timeout=600)
    assert step.returncode == 0, step.stderr
    first = json.loads((a / "eval" / "mlflow.json").read_text())
    second = json.loads(_finish(subprocess.Popen(PYTHON + [TRAINED, str(train_dirs["frozen"]), str(mini_splits)],
                                                 cwd=b, env=_env(uri), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 text=True)))

    client = MlflowClient(tracking_uri=uri)
    child = client.get_run(first["run_id"])  # B's step did not delete A's child run, nor its model
    assert child.info.lifecycle_stage == "active" and child.info.status == "FINISHED"
    assert child.data.tags["mtst.model_uri"] == first["model_uri"]
    assert client.get_logged_model(first["model_uri"].removeprefix("models:/")).status.to_proto() == 2  # READY
    assert first["parent_run_id"] != second["parent_run_id"]  # a pipeline run each
    parents = [client.get_run(m["parent_run_id"]) for m in (first, second)]
    assert parents[0].data.tags["mtst.pipeline_id"] != parents[1].data.tags["mtst.pipeline_id"]
    for logged, parent in zip((first, second), parents):
        children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = "
                                      f"'{parent.info.run_id}' and tags.`mtst.role` = 'variant'")
        assert [r.info.run_id for r in children] == [logged["run_id"]]

    # a later step in checkout A still finds its own pipeline run's parent
    again = subprocess.Popen(PYTHON + [PARENT], cwd=a, env=_env(uri), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert _finish(again) == first["parent_run_id"]


# ---- two compares, one alias -----------------------------------------------------------------------------------
COMPARE = """
import json, sys, time
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from mtst import registry

uri, name, run_id, value, hold, flags = sys.argv[1:7]
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)


def held(call, before):
    # the first call waits for the test's go, before or after doing its work: read -> (hold) -> register, decide
    # -> (hold) -> set
    calls = []

    def wrapper(*args, **kwargs):
        first = not calls
        calls.append(1)
        result = None if before else call(*args, **kwargs)
        if first:
            Path(flags, "held").touch()
            while not Path(flags, "go").exists():
                time.sleep(0.05)
        return call(*args, **kwargs) if before else result
    return wrapper


if hold == "after-reading-the-champion":
    registry.current_champion = held(registry.current_champion, before=False)
elif hold == "before-setting-the-alias":
    client.set_registered_model_alias = held(client.set_registered_model_alias, before=True)
candidate = registry.Measured(version=None, variant=name, run_id=run_id, metric="mean_macro_f1", value=float(value),
                              test_data_hash="t" * 64, data_hash="d" * 32)
outcome = registry.settle(client, name, "champion", f"runs:/{run_id}/model", candidate, False)
print(json.dumps({"decision": outcome.decision, "version": outcome.candidate.version,
                  "champion": outcome.champion.version, "reason": outcome.reason}))
"""


def _model_run(tracker: Tracker, tmp_path: Path, name: str) -> str:
    """A run with a model folder to register (the registry only needs its files)."""
    folder = tmp_path / name / "model"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text(f"flavors: {{}}\nrun: {name}\n")
    run_id = tracker.create_run(name, {})
    tracker.client.log_artifacts(run_id, str(folder), "model")
    return run_id


def _compare(uri: str, name: str, run_id: str, value: float, hold: str, flags: Path) -> subprocess.Popen[str]:
    flags.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(PYTHON + [COMPARE, uri, name, run_id, str(value), hold, str(flags)], env=_env(uri),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("hold", ["after-reading-the-champion", "before-setting-the-alias"])
def test_two_compares_at_once_leave_the_champion_on_the_better_model(tmp_path, hold):
    """The worse model's compare holds at ``hold`` while the better one's runs through; then it goes on. Read ->
    register -> decide -> set used to let the held one move the alias onto the worse model last."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker.open(TrackingParams(experiment="registry-race"), uri=uri)
    worse_run, better_run = _model_run(tracker, tmp_path, "worse"), _model_run(tracker, tmp_path, "better")
    name = f"race-{hold}"

    worse = _compare(uri, name, worse_run, 0.70, hold, tmp_path / "worse-flags")
    _wait_for(tmp_path / "worse-flags" / "held", worse)
    better = json.loads(_finish(_compare(uri, name, better_run, 0.80, "none", tmp_path / "better-flags")))
    (tmp_path / "worse-flags" / "go").touch()
    late = json.loads(_finish(worse))

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.run_id == better_run and str(champion.version) == better["version"]
    assert better["decision"] == "promoted"
    assert late["decision"] == "kept" and late["champion"] == better["version"] != late["version"]
    assert f"version {better['version']}" in late["reason"]  # the report names the version that holds it


# ---- a fresh SQLite store, two processes -----------------------------------------------------------------------
OPEN = """
import sys, time
from pathlib import Path

from mtst.config import TrackingParams
from mtst.tracking import Tracker

Path(sys.argv[2], "ready").touch()
while not Path(sys.argv[3]).exists():
    time.sleep(0.01)
print(Tracker.open(TrackingParams(experiment="fresh"), uri=sys.argv[1]).experiment_id)
"""


def test_two_processes_open_a_fresh_store_at_once(tmp_path):
    """Both create the schema of the new database (`kfp run-local --parallelism 2`): one used to fail its
    migration, meeting the other's half-made schema (alembic finding no version row to update, SQLAlchemy a
    circular dependency)."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    go = tmp_path / "go"
    procs = []
    for i in range(2):  # both imported and waiting, then released together
        (tmp_path / f"p{i}").mkdir()
        procs.append(subprocess.Popen(PYTHON + [OPEN, uri, str(tmp_path / f"p{i}"), str(go)], env=_env(uri),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for i, proc in enumerate(procs):
        _wait_for(tmp_path / f"p{i}" / "ready", proc)
    go.touch()
    ids = [_finish(proc) for proc in procs]
    assert ids[0] == ids[1] == Tracker.open(TrackingParams(experiment="fresh"), uri=uri).experiment_id
