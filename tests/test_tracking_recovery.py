"""A tracking server lost in the middle of a pipeline step: the step fails with a clear TrackingError naming the URI
(exit code 2, no traceback); once the server is back on the same store, re-running the step completes under the
same parent run with exactly one child run per variant. A real `mlflow server`, really SIGKILLed mid-logging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from mtst.config import TrackingParams


def _variant_runs(client, experiment_id, variant):
    return client.search_runs([experiment_id], f"tags.`mtst.variant` = '{variant}' and tags.`mtst.role` = 'variant'")


def test_lost_server_fails_the_step_and_the_rerun_leaves_one_child(train_dirs, mini_splits, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from helpers.mlflow_server import MlflowServer
    from helpers.pipeline import FAST_EVALUATE
    from mtst.steps import evaluate

    server = MlflowServer(tmp_path / "server").start()
    try:
        params = tmp_path / "params.yaml"
        params.write_text("evaluate:\n  throughput_sentences: 48\n  throughput_repeats: 1\n")
        env = {**os.environ, "MLFLOW_TRACKING_URI": server.uri, "MTST_PIPELINE_ID": f"lost-{uuid.uuid4().hex[:8]}"}
        step = subprocess.Popen([sys.executable, "-m", "mtst.cli", "evaluate", "--train-dir", str(train_dirs["frozen"]),
                                 "--splits", str(mini_splits), "--out", str(tmp_path / "eval"), "--metrics",
                                 str(tmp_path / "m.json"), "--params", str(params)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        client = MlflowClient(tracking_uri=server.uri)
        deadline = time.monotonic() + 300
        partial = []
        while not partial and step.poll() is None and time.monotonic() < deadline:
            experiment = client.get_experiment_by_name("mtst")
            partial = _variant_runs(client, experiment.experiment_id, "frozen") if experiment else []
            time.sleep(0.1)
        assert partial and partial[0].info.status == "RUNNING", "the child run never appeared while the step ran"
        server.kill()  # lost while the step logs the variant's child run
        start = time.monotonic()
        out, err = step.communicate(timeout=180)
        assert step.returncode == 2, err
        # trained untracked, so evaluate logs the training part of the child first, then its own
        assert f"MLflow tracking store {server.uri} failed while logging the " in err and "of variant 'frozen'" in err
        assert "cannot be reached" in err and "re-run this step" in err and "Traceback" not in err
        assert time.monotonic() - start < 60  # seconds of retries, not MLflow's default minutes

        # the server is back on the same store and port; the re-run finds the same parent and replaces the child
        server = MlflowServer(tmp_path / "server", port=server.port).start()
        old = client.get_run(partial[0].info.run_id)
        assert old.info.status == "RUNNING" and old.info.lifecycle_stage == "active"  # left half-logged
        with monkeypatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
            result = evaluate.run(FAST_EVALUATE, train_dirs["frozen"], mini_splits, tmp_path / "eval",
                                  tracking=TrackingParams(), pipeline_id=env["MTST_PIPELINE_ID"])
        parent = old.data.tags["mlflow.parentRunId"]
        assert result["mlflow"]["parent_run_id"] == parent
        children = client.search_runs([old.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
        assert [r.info.run_id for r in children] == [result["mlflow"]["run_id"]]
        assert children[0].info.status == "FINISHED" and children[0].data.tags["mtst.variant"] == "frozen"
        assert client.get_run(old.info.run_id).info.lifecycle_stage == "deleted"  # in the trash, not a duplicate
        stages = json.loads((train_dirs["frozen"] / "stages.json").read_text())
        nested = client.search_runs([old.info.experiment_id], f"tags.`mlflow.parentRunId` = '{children[0].info.run_id}'")
        assert sorted(r.data.tags["mtst.stage"] for r in nested) == sorted(s["name"] for s in stages)
        parents = client.search_runs([old.info.experiment_id], "tags.`mtst.role` = 'pipeline'")
        assert [r.info.run_id for r in parents] == [parent]
    finally:
        server.stop()


def test_a_server_lost_mid_answer_reads_as_unreachable():
    """Killed while it sends a response, the server leaves a half-read body rather than a refused connection
    (the race the test above can land on); the user reads the same sentence either way."""
    import requests
    from urllib3.exceptions import IncompleteRead, ProtocolError

    from mtst.tracking.store import failure_reason

    broken = ProtocolError("Connection broken: IncompleteRead(0 bytes read, 2 more expected)", IncompleteRead(0, 2))
    assert failure_reason(requests.exceptions.ChunkedEncodingError(broken)) == \
        "cannot be reached (connection broken mid-answer)"
    assert failure_reason(requests.exceptions.ConnectionError("[Errno 111] Connection refused")) == \
        "cannot be reached (connection refused)"
