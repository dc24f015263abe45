"""`mtst predict`: real sentences through the champion alias on a real `mlflow server`, through a saved model
folder, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mtst.data.datasets import TASK_LABELS, load_split

runner = CliRunner()


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_rows(rows, tasks=("task_a", "task_b")):
    for row in rows:
        for task in tasks:
            assert row[task]["label"] in TASK_LABELS[task]
            proba = row[task]["probabilities"]
            assert list(proba) == list(TASK_LABELS[task]) and sum(proba.values()) == pytest.approx(1.0, abs=1e-4)
            assert row[task]["label"] == max(proba, key=proba.get)


def test_predict_with_the_champion_alias_over_http(tracked_pipeline, mini_splits, tmp_path, monkeypatch):
    from mtst.serving import predict_frame

    topics = load_split(mini_splits, "task_a", "test").sample(20, random_state=1)
    sentiment = load_split(mini_splits, "task_b", "test").sample(10, random_state=1)
    frame = pd.concat([topics, sentiment])[["id", "text"]]
    frame.to_csv(tmp_path / "sentences.csv", index=False)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracked_pipeline.uri)
    result = runner.invoke(app(), ["predict", "--model", "models:/mtst-multitask@champion",
                                   "--input", str(tmp_path / "sentences.csv"), "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    rows = _read(tmp_path / "out.jsonl")
    assert [r["text"] for r in rows] == frame["text"].tolist() and [r["id"] for r in rows] == frame["id"].tolist()
    _check_rows(rows)
    # the alias is resolved to the version that answered, and said so: stderr, every row, the summary
    from mlflow import MlflowClient

    champion_version = MlflowClient(tracked_pipeline.uri, tracked_pipeline.uri).get_model_version_by_alias(
        "mtst-multitask", "champion")
    version, backend = champion_version.version, champion_version.tags["mtst.backend"]
    assert champion_version.tags["mtst.model_digest"].startswith("sha256:")  # what predict checked the files against
    resolved = f"models:/mtst-multitask/{version}"
    assert f"mtst predict: model {resolved} (resolved from models:/mtst-multitask@champion)" in result.stderr
    assert {r["model"] for r in rows} == {resolved} and json.loads(result.stdout)["model_version"] == str(version)
    accuracy = np.mean([r["task_a"]["label"] == label for r, label in zip(rows[:20], topics["label"], strict=True)])
    assert accuracy > 0.4  # 5 topics: a real champion is well above chance on real BBC sentences

    # the alias resolves to the champion's own model, served by the backend its version names: the same
    # probabilities as its saved folder run by that backend
    from mtst.export import load_backend

    champion = tracked_pipeline.summary["champion"]
    model_dir = json.loads((tracked_pipeline.eval_dirs[champion] / "variant.json").read_text())["model_dir"]
    assert backend == tracked_pipeline.summary["serving_backend"]
    local = predict_frame(load_backend(model_dir, backend), frame["text"].tolist())
    np.testing.assert_allclose([r["task_b"]["probabilities"]["positive"] for r in rows],
                               local["task_b_proba_positive"].to_numpy(), atol=1e-5)


def app():
    from mtst.cli import app as typer_app

    return typer_app


def test_predict_from_a_model_folder_and_a_training_folder(train_dirs, mini_splits, tmp_path):
    texts = load_split(mini_splits, "task_b", "test")["text"].head(6).tolist()
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t, "extra": i}) + "\n" for i, t in enumerate(texts)))
    for model in (train_dirs["frozen"] / "model", train_dirs["single_b"]):
        out = tmp_path / f"{model.name}.jsonl"
        result = runner.invoke(app(), ["predict", "--model", str(model), "--input", str(source), "--output", str(out)])
        assert result.exit_code == 0, result.output
        rows = _read(out)
        assert len(rows) == 6 and [r["row"] for r in rows] == list(range(1, 7))
        assert rows[0]["model"] == str((model if model.name == "model" else model / "model").resolve())
    _check_rows(_read(tmp_path / "model.jsonl"))
    single = _read(tmp_path / "single_b.jsonl")
    _check_rows(single, tasks=("task_b",))
    assert "task_a" not in single[0]


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mtst.cli", "predict", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_bad_input_gets_a_clear_error(train_dirs, tmp_path):
    model = str(train_dirs["frozen"] / "model")
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("sentence,id\nhello there,1\n")
    proc = _cli("--model", model, "--input", str(no_text), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and "no_text.csv" in proc.stderr and "missing required column" in proc.stderr
    assert "Traceback" not in proc.stderr

    blank = tmp_path / "blank.csv"
    blank.write_text("text,id\nfine sentence,1\n   ,2\n")
    proc = _cli("--model", model, "--input", str(blank), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and "blank.csv, row 3" in proc.stderr and "empty" in proc.stderr

    good = tmp_path / "good.csv"
    good.write_text("text\nfine sentence\n")
    proc = _cli("--model", model, "--input", str(good), "--output", str(tmp_path / "o.csv"))
    assert proc.returncode == 2 and "*.jsonl" in proc.stderr

    proc = _cli("--model", str(tmp_path / "nowhere"), "--input", str(good), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2 and "no such folder" in proc.stderr

    store = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}"}
    proc = _cli("--model", "models:/mtst-multitask@champion", "--input", str(good), "--output",
                str(tmp_path / "o.jsonl"), env=store)
    assert proc.returncode == 2 and "cannot be loaded" in proc.stderr and "mtst compare" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o.jsonl").exists()
