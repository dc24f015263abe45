"""MLflow tracking against the real thing: a `mlflow server` subprocess on a free loopback port (HTTP), the
embedded SQLite store across separate processes, and a preflight that fails within seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from mtst.config import TrackingParams
from mtst.tracking.errors import TrackingError
from mtst.tracking import Tracker, pipeline_run, preflight, resolve_tracking_uri


def test_run_logged_over_http_is_returned_by_the_server(mlflow_server, tmp_path):
    tracker = Tracker.open(TrackingParams(experiment="roundtrip"), uri=mlflow_server.uri)
    parent = pipeline_run(tracker, {"prepare": {"task_b_train_limit": 300}},
                          pipeline_id=f"http-{uuid.uuid4().hex[:8]}")
    child = tracker.create_run("frozen", {"mtst.role": "variant", "mtst.variant": "frozen"}, parent=parent)
    tracker.log_params(child, {"train.lr_head": "0.01", "train.stages.0.name": "heads"})
    assert tracker.log_metrics(child, [("loss/task_a", 1.5 - 0.1 * s, s) for s in range(5)]) == 5
    (tmp_path / "note.txt").write_text("hello from the test")
    tracker.client.log_artifact(child, str(tmp_path / "note.txt"), "notes")
    tracker.client.set_terminated(child, "FINISHED")

    # read it back with plain HTTP against the REST API
    api = f"{mlflow_server.uri}/api/2.0/mlflow"
    run = requests.get(f"{api}/runs/get", params={"run_id": child}, timeout=10).json()["run"]
    assert run["info"]["run_name"] == "frozen" and run["info"]["status"] == "FINISHED"
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"train.lr_head": "0.01", "train.stages.0.name": "heads"}
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlflow.parentRunId"] == parent and tags["mtst.variant"] == "frozen"
    history = requests.get(f"{api}/metrics/get-history", params={"run_id": child, "metric_key": "loss/task_a"},
                           timeout=10).json()["metrics"]
    assert sorted((m["step"], round(m["value"], 6)) for m in history) == [(s, round(1.5 - 0.1 * s, 6)) for s in range(5)]
    parent_run = requests.get(f"{api}/runs/get", params={"run_id": parent}, timeout=10).json()["run"]
    assert {p["key"]: p["value"] for p in parent_run["data"]["params"]} == {"prepare.task_b_train_limit": "300"}
    # the artifact went through the server's artifact proxy
    listed = requests.get(f"{mlflow_server.uri}/ajax-api/2.0/mlflow/artifacts/list",
                          params={"run_uuid": child, "path": "notes"}, timeout=10).json()
    assert [f["path"] for f in listed["files"]] == ["notes/note.txt"]
    got = requests.get(f"{mlflow_server.uri}/get-artifact", params={"run_uuid": child, "path": "notes/note.txt"}, timeout=10)
    assert got.text == "hello from the test"


def test_preflight_passes_for_a_live_server(mlflow_server):
    assert preflight(uri=mlflow_server.uri) == mlflow_server.uri


def test_preflight_fails_within_seconds_for_an_unreachable_server():
    from helpers.mlflow_server import closed_port

    uri = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(TrackingError, match="cannot be reached") as info:
        preflight(uri=uri)
    assert time.monotonic() - start < 5
    assert uri in str(info.value) and "MLFLOW_TRACKING_URI" in str(info.value)


def test_preflight_rejects_a_store_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TrackingError, match="cannot create"):
        preflight(uri=f"sqlite:///{blocker / 'sub' / 'mlflow.db'}")


def test_store_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # the repository is found upwards from the working directory
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert resolve_tracking_uri(TrackingParams(uri="http://example.invalid:5000")) == "http://example.invalid:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert resolve_tracking_uri(TrackingParams(uri="http://example.invalid:5000")) == "http://127.0.0.1:1"


def test_cli_stops_before_evaluating_when_the_server_is_unreachable(train_dirs, mini_splits, tmp_path):
    from helpers.mlflow_server import closed_port

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed_port()}"}
    proc = subprocess.run([sys.executable, "-m", "mtst.cli", "evaluate", "--train-dir", str(train_dirs["frozen"]),
                           "--splits", str(mini_splits), "--out", str(tmp_path / "eval"),
                           "--metrics", str(tmp_path / "m.json")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "cannot be reached" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "eval").exists() and not (tmp_path / "m.json").exists()


PARENT = """
import sys
from mtst.tracking import Tracker, pipeline_run
print(pipeline_run(Tracker.open(), pipeline_id=sys.argv[1]))
"""


def _parent_in_subprocess(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", PARENT, "pipeline-under-test"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_separate_processes_share_one_parent_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if k != "MTST_PIPELINE_ID"}
    env["MLFLOW_TRACKING_URI"] = uri
    # two steps of one pipeline run starting at the same moment (kfp runs variants in parallel), on a fresh store
    procs = [_parent_in_subprocess(env) for _ in range(2)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.append(out.strip().splitlines()[-1])
    assert ids[0] == ids[1]

    tracker = Tracker.open(uri=uri)
    open_parents = tracker.search("tags.`mtst.pipeline_id` = 'pipeline-under-test' and attributes.status = 'RUNNING'")
    assert [r.info.run_id for r in open_parents] == [ids[0]]

    # compare finishes the parent; the next pipeline run opens a new one
    tracker.client.set_terminated(ids[0], "FINISHED")
    later = _parent_in_subprocess(env)
    out, err = later.communicate(timeout=120)
    assert later.returncode == 0, err
    assert out.strip().splitlines()[-1] not in (ids[0], "")


def test_tracked_pipeline_layout_over_http(tracked_pipeline, train_dirs):
    from mlflow import MlflowClient

    from mtst.tracking import data_hash, git_commit

    client = MlflowClient(tracking_uri=tracked_pipeline.uri)
    info = tracked_pipeline.evaluations["staged"]["mlflow"]
    parents = {e["mlflow"]["parent_run_id"] for e in tracked_pipeline.evaluations.values()}
    assert parents == {info["parent_run_id"]}  # one parent for the whole pipeline run
    parent = client.get_run(info["parent_run_id"])
    assert parent.data.tags["mtst.pipeline_id"] == tracked_pipeline.pipeline_id
    assert parent.info.status == "FINISHED"  # closed by compare
    assert parent.data.tags["mtst.champion_variant"] == tracked_pipeline.summary["champion"]
    assert parent.data.tags["mtst.git_commit"] == git_commit() and parent.data.tags["mtst.data_hash"] == data_hash()
    assert parent.data.tags["mtst.validation_success"] == "true"
    report = json.loads((tracked_pipeline.validation / "report.json").read_text())
    assert parent.data.metrics["validation.batches.splits/task_a/test.rows"] == report["batches"]["splits/task_a/test"]["rows"] == 90
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "validation")}
    assert "validation/report.json" in artifacts and "validation/data_docs" in artifacts
    docs = {a.path for a in client.list_artifacts(parent.info.run_id, "validation/data_docs")}
    assert "validation/data_docs/index.html" in docs
    comparison = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"comparison/comparison.md", "comparison/comparison.png", "comparison/comparison.json"} <= comparison
    assert parent.data.metrics["best.mean_macro_f1"] == pytest.approx(tracked_pipeline.summary["champion_value"])

    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == sorted(tracked_pipeline.eval_dirs)
    for child in children:
        variant = child.data.tags["mtst.variant"]
        stages = json.loads((train_dirs[variant] / "stages.json").read_text())
        nested = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{child.info.run_id}'")
        assert sorted(r.data.tags["mtst.stage"] for r in nested) == sorted(s["name"] for s in stages)
        assert child.data.tags["mtst.model_uri"].startswith("models:/")
        history = [json.loads(line) for line in (train_dirs[variant] / "history.jsonl").read_text().splitlines()]
        for task in child.data.tags["mtst.tasks"].split(","):
            assert len(client.get_metric_history(child.info.run_id, f"loss/{task}")) == len(history)


# ---- what the MLflow UI shows first (issue 16): the training runs, their dataset inputs --------------------
def test_an_experiment_created_before_the_view_tags_gets_them(tmp_path):
    from mlflow import MlflowClient

    from mtst.tracking.view import KIND_TAG, VIEW_TAG, view_state

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    old = client.create_experiment("made-by-an-old-mtst")  # no tags: the UI would open the GenAI overview
    chosen = client.create_experiment("kind-chosen", tags={KIND_TAG: "genai_development"})
    assert Tracker.open(TrackingParams(experiment="made-by-an-old-mtst"), uri=uri).experiment_id == old
    tags = client.get_experiment(old).tags
    assert tags[KIND_TAG] == "custom_model_development" and json.loads(tags[VIEW_TAG]) == json.loads(view_state())
    Tracker.open(TrackingParams(experiment="kind-chosen"), uri=uri)
    assert client.get_experiment(chosen).tags[KIND_TAG] == "genai_development"  # someone's choice stays
    fresh = Tracker.open(TrackingParams(experiment="new"), uri=uri).experiment_id
    assert client.get_experiment(fresh).tags[KIND_TAG] == "custom_model_development"


def test_ui_command_prints_the_training_runs_url(tmp_path, monkeypatch):
    from mtst.tracking import ui_command

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    server = ui_command(TrackingParams(experiment="ui"), host="0.0.0.0", port=5123, allow_unauthenticated=True)
    experiment_id = Tracker.open(TrackingParams(experiment="ui")).experiment_id
    assert server.url == (f"http://127.0.0.1:5123/#/experiments/{experiment_id}/runs"
                          "?workflowType=machine_learning&viewStateShareKey=mtst-variants")
    assert server.command[server.command.index("--backend-store-uri") + 1] == server.store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    with pytest.raises(TrackingError, match="open that URL"):
        ui_command(TrackingParams(experiment="ui"))


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_dataset_inputs_name_the_splits_a_variant_trained_and_was_tested_on(tmp_path):
    import hashlib

    from mlflow import MlflowClient

    from mtst.contracts.evaluation import VariantInfo
    from mtst.contracts.training import TrainedParams, TrainSummary
    from mtst.tracking.datasets import log_inputs, testing_inputs, training_inputs

    def variant_inputs(summary, info):  # what the training run and the evaluation log, together
        return training_inputs(summary, info.splits_dir) + testing_inputs(info)

    splits = tmp_path / "artifacts" / "splits"
    rows = {task: [{"id": f"{task}-{i}", "text": f"sentence {i} of {task}", "label": "x" if i % 2 else "y"}
                   for i in range(n)] for task, n in (("task_a", 12), ("task_b", 8))}
    files = {f"{task}/{split}": _jsonl(splits / task / f"{split}.jsonl", rows[task]) for task in rows
             for split in ("train", "test")}
    files["task_b/train (augmented)"] = _jsonl(tmp_path / "artifacts" / "augmented" / "task_b" / "train.jsonl",
                                               rows["task_b"] * 3)

    def summary(augmented: bool, train_files: dict[str, str] | None = None) -> TrainSummary:
        return TrainSummary(variant="staged", tasks=["task_a", "task_b"], trained_tasks=["task_a", "task_b"],
                            augmented=augmented, seed=1, wall_s=1.0, process_wall_s=1.0, steps=1, train_rows={},
                            train_files=train_files or {}, validation={}, validation_by_stage={},
                            params=TrainedParams(variant={}, train={}, model={}))

    info = VariantInfo(variant="staged", tasks=["task_a", "task_b"], labels={}, train_dir="t", model_dir="m",
                       splits_dir=str(splits), split="test")
    tracker = Tracker.open(TrackingParams(experiment="inputs"), uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(tracking_uri=tracker.uri)
    expected = {"task_a/train": "training", "task_b/train (augmented)": "training", "task_a/test": "testing",
                "task_b/test": "testing"}
    run = tracker.create_run("staged", {})
    log_inputs(tracker.client, run, variant_inputs(summary(augmented=True), info))
    inputs = client.get_run(run).inputs.dataset_inputs
    assert {i.dataset.name: {t.key: t.value for t in i.tags}["mlflow.data.context"] for i in inputs} == expected
    for i in inputs:  # the digest is the whole file's MD5 (what md5sum prints), the source its path
        assert i.dataset.digest == hashlib.md5(files[i.dataset.name].read_bytes()).hexdigest()
        assert str(files[i.dataset.name]) in i.dataset.source
        assert json.loads(i.dataset.profile)["num_rows"] == len(files[i.dataset.name].read_text().splitlines())
    assert "mtst.inputs_missing" not in client.get_run(run).data.tags

    # not augmented: the plain Task B train split; an augmented split that is not there is named, not claimed
    plain = tracker.create_run("frozen", {})
    log_inputs(tracker.client, plain, variant_inputs(summary(augmented=False), info))
    assert "task_b/train" in {i.dataset.name for i in client.get_run(plain).inputs.dataset_inputs}
    files["task_b/train (augmented)"].unlink()
    moved = tracker.create_run("moved", {})
    log_inputs(tracker.client, moved, variant_inputs(summary(augmented=True), info))
    assert sorted(i.dataset.name for i in client.get_run(moved).inputs.dataset_inputs) == \
        ["task_a/test", "task_a/train", "task_b/test"]
    assert client.get_run(moved).data.tags["mtst.inputs_missing"] == str(files["task_b/train (augmented)"])

    # the summary names the file training read (an augmented split written elsewhere): that file is the input
    elsewhere = _jsonl(tmp_path / "elsewhere" / "train.jsonl", rows["task_b"] * 2)
    recorded = tracker.create_run("recorded", {})
    log_inputs(tracker.client, recorded, variant_inputs(summary(True, {"task_a": str(files["task_a/train"]),
                                                                       "task_b": str(elsewhere)}), info))
    logged = {i.dataset.name: i.dataset for i in client.get_run(recorded).inputs.dataset_inputs}
    assert logged["task_b/train (augmented)"].digest == hashlib.md5(elsewhere.read_bytes()).hexdigest()
    assert "mtst.inputs_missing" not in client.get_run(recorded).data.tags
