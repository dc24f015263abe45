"""`mtst evaluate` on a really trained (small) variant: metrics checked against an independent computation from
the written predictions, DVC confusion JSON, PNG plots, and the MLflow child run in a real SQLite store."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from typer.testing import CliRunner

from mtst.config import EvaluateParams, TrackingParams
from mtst.data.datasets import TASK_LABELS, load_split
from mtst.evaluation.errors import EvaluationError
from mtst.evaluation.metrics import expected_calibration_error
from mtst.steps import evaluate

PNG = b"\x89PNG\r\n\x1a\n"
FAST = EvaluateParams(throughput_sentences=48, throughput_repeats=1)


def test_ece_by_hand():
    # two bins hit: confidence 0.9 (one right, one wrong) and 0.6 (both right), 10 bins
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    assert expected_calibration_error(proba, y, 10) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    # calibrated: 80% confident and 80% right
    proba = np.tile([0.8, 0.2], (10, 1))
    y = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(proba, y, 15) == pytest.approx(0.0, abs=1e-12)


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def evaluated(train_dirs, mini_splits, tmp_path_factory):
    """`staged` evaluated with tracking into a fresh embedded (SQLite) store."""
    root = tmp_path_factory.mktemp("evaluate")
    uri = f"sqlite:///{root / 'store' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        pipeline_id = f"eval-{uuid.uuid4().hex[:8]}"
        result = evaluate.run(FAST, train_dirs["staged"], mini_splits, root / "eval", metrics_path=root / "metrics" / "staged.json",
                              tracking=TrackingParams(), pipeline_id=pipeline_id)
        rerun = evaluate.run(FAST, train_dirs["staged"], mini_splits, root / "eval2",
                             tracking=TrackingParams(log_model=False), pipeline_id=pipeline_id)
    return {"root": root, "uri": uri, "result": result, "rerun": rerun, "out": root / "eval", "splits": mini_splits,
            "train": train_dirs["staged"]}


def test_metrics_match_an_independent_computation(evaluated):
    out, result = evaluated["out"], evaluated["result"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads((evaluated["root"] / "metrics" / "staged.json").read_text()) == metrics  # DVC's metrics file
    assert {k: v for k, v in result.items() if k != "mlflow"} == metrics
    for task in ("task_a", "task_b"):
        rows = _read_jsonl(out / "predictions" / f"{task}.jsonl")
        test = load_split(evaluated["splits"], task, "test")
        assert [r["id"] for r in rows] == test["id"].tolist() and metrics[f"{task}.n"] == len(test) == 90
        y, p = [r["label"] for r in rows], [r["predicted"] for r in rows]
        assert metrics[f"{task}.macro_f1"] == pytest.approx(f1_score(y, p, average="macro", labels=list(TASK_LABELS[task]),
                                                                     zero_division=0), abs=1e-6)
        assert metrics[f"{task}.accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-6)
        precision, recall, _, support = precision_recall_fscore_support(y, p, labels=list(TASK_LABELS[task]), zero_division=0)
        for i, label in enumerate(TASK_LABELS[task]):
            assert metrics[f"{task}.class.{label}.precision"] == pytest.approx(precision[i], abs=1e-6)
            assert metrics[f"{task}.class.{label}.recall"] == pytest.approx(recall[i], abs=1e-6)
            assert metrics[f"{task}.class.{label}.support"] == support[i]
        proba = np.array([r["proba"] for r in rows])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
        index = {label: i for i, label in enumerate(TASK_LABELS[task])}
        assert metrics[f"{task}.ece"] == pytest.approx(
            expected_calibration_error(proba, np.array([index[v] for v in y]), FAST.ece_bins), abs=1e-4)
    rows = _read_jsonl(out / "predictions" / "task_b.jsonl")
    for domain in ("tweets", "movie", "amazon", "nyt"):
        part = [r for r in rows if r["domain"] == domain]
        assert part and metrics[f"task_b.domain.{domain}.n"] == len(part)
        assert metrics[f"task_b.domain.{domain}.macro_f1"] == pytest.approx(
            f1_score([r["label"] for r in part], [r["predicted"] for r in part], average="macro",
                     labels=list(TASK_LABELS["task_b"]), zero_division=0), abs=1e-6)
    assert metrics["mean_macro_f1"] == pytest.approx((metrics["task_a.macro_f1"] + metrics["task_b.macro_f1"]) / 2, abs=1e-6)
    assert metrics["task_a.macro_f1"] > 0.4  # 5 topics: well above chance after real (small) training
    assert metrics["inference.sentences_per_s"] > 0 and metrics["inference.sentences"] == 48
    assert 22_000_000 < metrics["model.parameters"] < 23_000_000 and metrics["model.size_mb"] > 80
    assert metrics["train.steps"] == len((evaluated["train"] / "history.jsonl").read_text().splitlines())


def test_confusion_json_for_dvc_and_png_plots(evaluated):
    out = evaluated["out"]
    report = json.loads((out / "report.json").read_text())
    for task in ("task_a", "task_b"):
        records = json.loads((out / "plots" / f"confusion_{task}.json").read_text())
        assert len(records) == 90 and all(set(r) == {"actual", "predicted"} for r in records)
        labels = report["tasks"][task]["confusion"]["labels"]
        matrix = report["tasks"][task]["confusion"]["matrix"]
        counts = Counter((r["actual"], r["predicted"]) for r in records)
        assert [[counts[(a, p)] for p in labels] for a in labels] == matrix
        png = (out / "plots" / f"confusion_{task}.png").read_bytes()
        assert png.startswith(PNG) and len(png) > 5000
    assert (out / "plots" / "loss.png").read_bytes().startswith(PNG)


def test_variant_child_run_with_stage_runs_in_the_embedded_store(evaluated):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    from mtst.tracking import data_hash, git_commit

    info = evaluated["result"]["mlflow"]
    client = MlflowClient(tracking_uri=evaluated["uri"], registry_uri=evaluated["uri"])
    child = client.get_run(info["run_id"])
    parent = client.get_run(info["parent_run_id"])
    assert parent.data.tags["mtst.role"] == "pipeline" and parent.info.status == "RUNNING"  # compare finishes it
    assert child.info.run_name == "staged" and child.info.status == "FINISHED"
    tags = child.data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id and tags["mtst.variant"] == "staged"
    assert tags["mtst.git_commit"] == git_commit() and tags["mtst.data_hash"] == data_hash() != "unknown"
    assert child.data.params["variant.loss_weights.task_b"] == "2.0" and child.data.params["evaluate.split"] == "test"
    metrics = json.loads((evaluated["out"] / "metrics.json").read_text())
    assert child.data.metrics["test.task_b.macro_f1"] == pytest.approx(metrics["task_b.macro_f1"])

    history = _read_jsonl(evaluated["train"] / "history.jsonl")
    logged = client.get_metric_history(child.info.run_id, "loss/task_a")
    assert sorted(m.step for m in logged) == [r["step"] for r in history]
    stages = json.loads((evaluated["train"] / "stages.json").read_text())
    boundaries = client.get_metric_history(child.info.run_id, "stage_index")
    assert {m.step for m in boundaries} == {s[k] for s in stages for k in ("start_step", "end_step")}

    stage_runs = client.search_runs([child.info.experiment_id], f"tags.`mlflow.parentRunId` = '{child.info.run_id}'",
                                    run_view_type=ViewType.ALL)  # the fixture's re-run has deleted this tree since
    assert sorted(r.info.run_name for r in stage_runs) == ["staged:heads", "staged:unfreeze"]
    for run in stage_runs:
        name = run.data.tags["mtst.stage"]
        steps = [r["step"] for r in history if r["stage"] == name]
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss/task_b")) == steps
        assert run.data.metrics["steps"] == len(steps)

    artifacts = {a.path for folder in ("plots", "training", "evaluation")
                 for a in client.list_artifacts(child.info.run_id, folder)}
    assert {"plots/loss.png", "plots/confusion_task_a.png", "plots/confusion_task_b.json",
            "training/history.jsonl", "training/stages.json", "evaluation/metrics.json"} <= artifacts

    # the pyfunc: both tasks' labels and probabilities, with signature and input example
    mlflow.set_tracking_uri(evaluated["uri"])
    model = mlflow.pyfunc.load_model(info["model_uri"])
    assert model.metadata.get_input_schema().input_names() == ["text"]
    assert model.metadata.saved_input_example_info is not None
    import pandas as pd

    out = model.predict(pd.DataFrame({"text": ["The striker scored twice in the cup final.",
                                               "Profits at the bank fell by a third.", "I hated every minute of it."]}))
    assert set(out["task_a_label"]) <= set(TASK_LABELS["task_a"]) and set(out["task_b_label"]) <= set(TASK_LABELS["task_b"])
    proba_a = out[[f"task_a_proba_{label}" for label in TASK_LABELS["task_a"]]].to_numpy()
    np.testing.assert_allclose(proba_a.sum(axis=1), 1.0, atol=1e-5)
    assert out["task_a_label"].iloc[0] == "sports"


def test_rerun_replaces_the_variant_child_run(evaluated):
    from mlflow import MlflowClient

    first, second = evaluated["result"]["mlflow"], evaluated["rerun"]["mlflow"]
    assert second["parent_run_id"] == first["parent_run_id"]  # the same open pipeline run
    client = MlflowClient(tracking_uri=evaluated["uri"])
    children = client.search_runs([second["experiment_id"]], f"tags.`mlflow.parentRunId` = '{first['parent_run_id']}'")
    assert [r.info.run_id for r in children] == [second["run_id"]]
    assert client.get_run(first["run_id"]).info.lifecycle_stage == "deleted"
    assert second["model_uri"] is None  # log_model: false


def test_evaluation_adds_to_the_child_run_its_training_logged(train_dirs, mini_splits, tmp_path, monkeypatch):
    """train logs the training part, evaluate adds its part to that same child; evaluating again logs the training
    part afresh (evaluate.* params cannot change on a run), so there is always exactly one child per variant."""
    from mlflow import MlflowClient

    from mtst import tracking as mt

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking, pipeline_id = TrackingParams(log_model=False), f"reuse-{uuid.uuid4().hex[:8]}"
    tracker = mt.Tracker.open(tracking)
    parent = mt.pipeline_run(tracker, pipeline_id=pipeline_id)
    trained = mt.log_training(tracker, parent, train_dirs["staged"], tracking, mini_splits)
    client = MlflowClient(tracking_uri=uri)
    child = client.get_run(trained.run_id)
    assert child.data.tags["mtst.stage"] == "train" and "test.task_a.macro_f1" not in child.data.metrics
    assert child.data.params["variant.loss_weights.task_b"] == "2.0" and "train.wall_s" in child.data.metrics
    assert sorted(trained.stage_run_ids) == ["heads", "unfreeze"]

    first = evaluate.run(FAST, train_dirs["staged"], mini_splits, tmp_path / "eval", tracking=tracking,
                         pipeline_id=pipeline_id)["mlflow"]
    assert (first["parent_run_id"], first["run_id"], first["stage_run_ids"]) == \
        (parent, trained.run_id, trained.stage_run_ids)
    assert first["history_metrics"] == trained.history_metrics
    child = client.get_run(trained.run_id)
    assert child.data.tags["mtst.stage"] == "evaluate" and "test.task_a.macro_f1" in child.data.metrics
    assert child.data.params["evaluate.split"] == "test" and child.data.tags["mtst.test_data_hash"]
    inputs = {i.dataset.name for i in child.inputs.dataset_inputs}
    assert inputs == {"task_a/train", "task_b/train", "task_a/test", "task_b/test"}

    second = evaluate.run(FAST.model_copy(update={"throughput_repeats": 2}), train_dirs["staged"], mini_splits,
                          tmp_path / "eval2", tracking=tracking, pipeline_id=pipeline_id)["mlflow"]
    children = client.search_runs([second["experiment_id"]], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert [r.info.run_id for r in children] == [second["run_id"]] != [trained.run_id]
    assert children[0].data.params["evaluate.throughput_repeats"] == "2"
    assert children[0].data.params["variant.loss_weights.task_b"] == "2.0"


def test_unfinished_training_folder_is_a_clear_error(tmp_path, mini_splits):
    (tmp_path / "half").mkdir()
    with pytest.raises(EvaluationError, match="not a finished training folder"):
        evaluate.run(FAST, tmp_path / "half", mini_splits, tmp_path / "out")
    from mtst.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--train-dir", str(tmp_path / "half"), "--no-track",
                                      "--metrics", str(tmp_path / "m.json")])
    assert result.exit_code == 2 and "not a finished training folder" in result.output
    assert not (tmp_path / "m.json").exists()


def test_an_untrained_encoder_reads_its_test_embeddings_from_the_cache(train_dirs, mini_splits, tmp_path, monkeypatch):
    """`frozen` never trains its encoder: its test embeddings are computed once (fp32, as served) into the
    embedding cache, and a later evaluation of any model with that encoder reads them; a trained encoder
    (`staged`) encodes as before and leaves no entry."""
    from mtst.model import MultiTaskSentenceTransformer
    from mtst.training.cache import encoder_fingerprint

    cache = tmp_path / "cache"
    monkeypatch.setenv("MTST_EMBEDDING_CACHE", str(cache))
    first = evaluate.run(FAST, train_dirs["frozen"], mini_splits, tmp_path / "first")
    model = MultiTaskSentenceTransformer.load(train_dirs["frozen"] / "model")
    entries = sorted(cache.glob(f"{encoder_fingerprint(model)}-*.npy"))
    assert len(entries) == 2 and not any(p.name.endswith("-bf16.npy") for p in entries)  # one per task's test split
    for task in ("task_a", "task_b"):  # the cached path scores exactly what encoding the split scores
        texts = load_split(mini_splits, task, "test")["text"].tolist()
        proba = model.predict_proba_from_embeddings(model.encode(texts, batch_size=FAST.batch_size), task)
        rows = _read_jsonl(tmp_path / "first" / "predictions" / f"{task}.jsonl")
        np.testing.assert_allclose([r["proba"] for r in rows], proba, atol=1e-6)
    # read, not recomputed: entries whose rows are rotated by one move every prediction with them
    for path in entries:
        np.save(path, np.roll(np.load(path), 1, axis=0))
    second = evaluate.run(FAST, train_dirs["frozen"], mini_splits, tmp_path / "second")
    for task in ("task_a", "task_b"):
        before = [r["proba"] for r in _read_jsonl(tmp_path / "first" / "predictions" / f"{task}.jsonl")]
        after = [r["proba"] for r in _read_jsonl(tmp_path / "second" / "predictions" / f"{task}.jsonl")]
        assert after == before[-1:] + before[:-1]
    assert second["train.wall_s"] == first["train.wall_s"]
    evaluate.run(FAST, train_dirs["staged"], mini_splits, tmp_path / "staged")
    assert sorted(cache.glob("*.npy")) == entries
