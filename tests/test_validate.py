"""`mtst validate` on the real data: the GX Checkpoint passes, writes a report and Data Docs, and a failure
writes nothing (except the clearly separate `<out>-failed/`) and names the file, the rule and the rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtst.io import MARKER
from mtst.cli import app
from mtst.config import ConfigError, PrepareParams, ValidateParams, load_params
from mtst.data.datasets import TASK_LABELS
from mtst.data.files import DataFileError
from mtst.steps import prepare, validate
from mtst.validation import ValidationFailed

SMALL = PrepareParams(task_a_train_limit=300, task_b_train_limit=200, validation_limit=100, test_limit=200)


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def splits(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("validate") / "splits"
    prepare.run(SMALL, data_dir, out)
    return out


@pytest.fixture(scope="module")
def full_run(data_dir, splits, tmp_path_factory):
    """Raw datasets + split files, default rules: the pipeline's validate stage."""
    out = tmp_path_factory.mktemp("validate_out") / "validation"
    return out, validate.run(ValidateParams(), splits, out, data_dir)


def test_real_data_and_splits_pass_with_report_and_data_docs(full_run, splits):
    out, report = full_run
    assert report["success"] and report["failures"] == []
    assert json.loads((out / "report.json").read_text())["success"] is True
    index = (out / "data_docs" / "index.html").read_text()
    assert "splits.task_b.train" in index and "data.task_a" in index
    assert len(list((out / "data_docs" / "validations").rglob("*.html"))) == len(report["batches"])
    assert str(splits / "task_b" / "train.jsonl") in report["files"]
    assert any(p.endswith("task_a.jsonl") for p in report["files"])
    assert report["expectations"] > 100


def test_the_builtin_sources_keep_their_declared_labels_in_order(full_run, splits):
    """A task's labels are its prepared data's, sorted; the built-in sources declare theirs sorted, so the default
    pipeline's heads, metrics and reports keep exactly their label order."""
    from mtst.contracts.data import LABELS  # the record prepare writes

    declared = {task: list(labels) for task, labels in TASK_LABELS.items()}
    assert all(labels == sorted(labels) for labels in declared.values())
    assert json.loads((splits / LABELS).read_text()) == declared
    assert full_run[1]["labels"] == declared


def test_class_balance_report_covers_every_split(full_run, splits):
    _, report = full_run
    train_b = report["class_balance"][str(splits / "task_b" / "train.jsonl")]["train"]
    assert sum(train_b[label]["count"] for label in ("negative", "neutral", "positive")) == 200
    assert 1 < train_b["imbalance_ratio"] < 5
    raw_a = next(v for k, v in report["class_balance"].items() if k.endswith("task_a.jsonl"))
    assert set(raw_a) == {"train", "validation", "test"}


def test_the_one_stray_byte_in_the_bbc_corpus_is_a_warning_not_a_failure(full_run):
    _, report = full_run
    (warning,) = [w for w in report["warnings"] if w["rule"] == "replacement_char"]
    assert warning["file"].endswith("task_a.jsonl") and warning["count"] == 1  # sports/199.txt, byte 0xa3


def test_failure_writes_nothing_and_keeps_the_failed_runs_report_apart(splits, tmp_path):
    bad = tmp_path / "splits"
    shutil.copytree(splits, bad)
    train = read_rows(bad / "task_a" / "train.jsonl")
    test = read_rows(bad / "task_a" / "test.jsonl")
    test[3]["text"] = train[0]["text"]  # a train sentence in the test split
    test[5]["label"] = "sport"  # a typo of "sports"
    write_rows(bad / "task_a" / "test.jsonl", test)
    out = tmp_path / "validation"
    out.mkdir()
    (out / MARKER).write_text("")  # a folder an earlier mtst run wrote
    (out / "from_the_last_good_run.txt").write_text("kept")

    with pytest.raises(ValidationFailed) as info:
        validate.run(ValidateParams(), bad, out, data_dir=None)

    assert info.value.rules == {"text_leakage", "label_set"}
    message = str(info.value)
    assert "test.jsonl" in message and "row 6: 'sport'" in message and "did you mean 'sports'" in message
    assert "train (train.jsonl row 1), test (test.jsonl row 4)" in message
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "from_the_last_good_run.txt"]  # untouched
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no half-written folders
    failed = tmp_path / "validation-failed"
    assert json.loads((failed / "report.json").read_text())["success"] is False
    assert (failed / "data_docs" / "index.html").exists()
    assert str(failed) in message

    report = validate.run(ValidateParams(), splits, out, data_dir=None)  # fixed data: success clears -failed
    assert report["success"] and not failed.exists() and (out / "report.json").exists()


def test_augmented_rows_that_leak_into_test_are_caught(splits, tmp_path):
    augmented = tmp_path / "augmented"
    (augmented / "task_b").mkdir(parents=True)
    rows = read_rows(splits / "task_b" / "train.jsonl")
    test_row = read_rows(splits / "task_b" / "test.jsonl")[7]
    leaked = {**rows[0], "id": rows[0]["id"] + "~aug0", "text": test_row["text"], "source_id": rows[0]["id"],
              "augmentation": "swap"}
    empty = {**rows[1], "id": rows[1]["id"] + "~aug0", "text": "   ", "source_id": rows[1]["id"],
             "augmentation": "delete"}
    write_rows(augmented / "task_b" / "train.jsonl", rows + [leaked, empty])
    with pytest.raises(ValidationFailed) as info:
        validate.run(ValidateParams(), splits, None, data_dir=None, augmented_dir=augmented)
    assert info.value.rules == {"text_leakage", "blank_text"}
    message = str(info.value)
    assert f"in train (train.jsonl row {len(rows) + 1}), test (test.jsonl row 8)" in message
    assert f"row {len(rows) + 2}: '   '" in message


def test_a_missing_split_file_names_the_file(splits, tmp_path):
    partial = tmp_path / "splits"
    shutil.copytree(splits, partial)
    (partial / "task_b" / "validation.jsonl").unlink()
    with pytest.raises(DataFileError, match=r"validation\.jsonl: \[exists\]"):
        validate.run(ValidateParams(), partial, None, data_dir=None)


def test_params_are_checked(tmp_path):
    with pytest.raises(ValueError, match="min_chars 10 is above max_chars 5"):
        ValidateParams(min_chars=10, max_chars=5)
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  min_per_clas: 3\n")
    with pytest.raises(ConfigError, match="min_per_clas"):
        load_params(params)
    params.write_text("validate:\n  labels: {task_b: [bad, good]}\n")
    assert load_params(params).validate.labels == {"task_b": ["bad", "good"]}


def test_declared_labels_come_from_params(splits, tmp_path):
    """With a declared label set that lacks 'neutral', the real split fails on exactly those rows."""
    params = ValidateParams(labels={"task_b": ["negative", "positive"]})
    with pytest.raises(ValidationFailed) as info:
        validate.run(params, splits, None, data_dir=None)
    assert info.value.rules == {"label_set"}
    assert all("task_b" in f.file for f in info.value.failures if f.severity == "critical")


def test_cli_validate_prints_a_summary(splits, tmp_path, monkeypatch):
    shutil.copytree(splits, tmp_path / "artifacts" / "splits")
    monkeypatch.chdir(tmp_path)  # the defaults are relative paths: artifacts/splits -> artifacts/validation
    result = CliRunner().invoke(app, ["validate", "--no-raw", "--params", str(tmp_path / "none.yaml")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # MLflow logs a fresh store's creation on stderr
    assert summary["success"] is True and summary["data_docs"] == "artifacts/validation/data_docs/index.html"
    assert len(summary["files"]) == 6 and (tmp_path / summary["data_docs"]).exists()


def test_a_split_file_without_a_required_column_fails_the_columns_rule(splits, tmp_path):
    broken = tmp_path / "splits"
    shutil.copytree(splits, broken)
    rows = [{k: v for k, v in r.items() if k != "group"} for r in read_rows(broken / "task_b" / "validation.jsonl")]
    write_rows(broken / "task_b" / "validation.jsonl", rows)
    with pytest.raises(ValidationFailed) as info:
        validate.run(ValidateParams(), broken, None, data_dir=None)
    assert info.value.rules == {"columns"}
    assert "validation.jsonl: [columns]" in str(info.value) and "missing column(s) ['group']" in str(info.value)


def test_the_pipelines_report_is_logged_on_its_parent_run(splits, tmp_path, monkeypatch):
    """validate records its own report: artifacts, numbers and outcome on the pipeline's parent run; a re-run
    changes nothing visible (the same artifacts, the same values)."""
    from mlflow import MlflowClient

    from mtst.config import TrackingParams

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "validation"
    first = validate.run(ValidateParams(), splits, out, data_dir=None, tracking=TrackingParams(), pipeline_id="v-1")
    again = validate.run(ValidateParams(), splits, out, data_dir=None, tracking=TrackingParams(), pipeline_id="v-1")
    assert first["mlflow"] == again["mlflow"] and first["mlflow"]["logged_as"] == "validation"
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(first["mlflow"]["parent_run_id"])
    assert parent.data.tags["mtst.role"] == "pipeline" and parent.data.tags["mtst.pipeline_id"] == "v-1"
    assert parent.data.tags["mtst.validation_success"] == "true"
    rows = read_rows(splits / "task_a" / "test.jsonl")
    assert parent.data.metrics["validation.batches.splits/task_a/test.rows"] == len(rows)
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "validation")} >= {
        "validation/report.json", "validation/data_docs"}
    history = client.get_metric_history(parent.info.run_id, "validation.batches.splits/task_a/test.rows")
    assert {m.value for m in history} == {len(rows)}
    untracked = validate.run(ValidateParams(), splits, tmp_path / "plain", data_dir=None)  # no tracking: no parent
    assert "mlflow" not in untracked
