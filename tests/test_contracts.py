"""The files passed between steps are read through their models (``mtst.contracts``): a record written by the
model reads back equal; a truncated or hand-edited one fails where it is read, naming the file and the field,
and ``mtst evaluate`` on such a train folder stops with exit code 2 before writing anything."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mtst.contracts import ContractError
from mtst.contracts.evaluation import EvaluationReport, Metrics
from mtst.contracts.training import Stages, TrainedParams, TrainFolder, TrainSummary, read_history

SCORES = {"task_a": {"macro_f1": 0.8, "accuracy": 0.81}}


def _summary(**changes) -> TrainSummary:
    fields = dict(variant="frozen", description="probe", tasks=["task_a"], trained_tasks=["task_a"], augmented=False,
                  seed=13, wall_s=1.5, process_wall_s=2.0, steps=30, world_size=1, resumed_from_step=None,
                  train_rows={"task_a": 200}, validation=SCORES, validation_by_stage={"heads": SCORES},
                  params=TrainedParams(variant={"stages": [{"name": "heads"}]}, train={"seed": 13}, model={}))
    return TrainSummary(**{**fields, **changes})


def _stage(**changes) -> dict:
    return {"name": "heads", "index": 0, "start_step": 0, "end_step": 30, "steps": 30, "tasks": ["task_a"],
            "cached_embeddings": True, "wall_s": 1.5, "validation": SCORES, "params": {"lr_head": 0.01}, **changes}


def test_records_read_back_as_written(tmp_path):
    summary = _summary()
    summary.write(tmp_path / "train_summary.json")
    written = json.loads((tmp_path / "train_summary.json").read_text())
    assert "task_a_retained" not in written and written["resumed_from_step"] is None  # unset stays out, None is kept
    assert TrainSummary.read(tmp_path / "train_summary.json") == summary
    assert _summary(task_a_retained=0.97).dump()["task_a_retained"] == 0.97
    Stages.model_validate([_stage()]).write(tmp_path / "stages.json")
    assert TrainFolder(tmp_path).stages()[0].end_step == 30


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.pop("steps"), "steps: Field required"),
    (lambda d: d.update(wall_s="fast"), "wall_s: Input should be a valid number"),
    (lambda d: d["validation"]["task_a"].pop("accuracy"), "validation.task_a.accuracy: Field required"),
    (lambda d: d.update(learning_rate=0.1), "learning_rate: Extra inputs are not permitted"),
])
def test_hand_edited_summary_names_the_file_and_the_field(tmp_path, edit, field):
    data = _summary().dump()
    edit(data)
    path = tmp_path / "train_summary.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ContractError) as info:
        TrainFolder(tmp_path).summary()
    assert str(path) in str(info.value) and field in str(info.value)


def test_truncated_records_are_contract_errors(tmp_path):
    path = tmp_path / "train_summary.json"
    path.write_text(json.dumps(_summary().dump())[:200])  # a write cut short
    with pytest.raises(ContractError, match=f"{path}: not JSON"):
        TrainSummary.read(path)
    (tmp_path / "stages.json").write_text(json.dumps([_stage(end_step=None)]))
    with pytest.raises(ContractError, match="stages.json: not a valid list of stage records .*end_step"):
        TrainFolder(tmp_path).stages()
    (tmp_path / "history.jsonl").write_text('{"step": 0, "loss/task_a": 1.2}\n{"step": 1, "loss/ta\n')
    with pytest.raises(ContractError, match="history.jsonl, line 2: not JSON"):
        read_history(tmp_path / "history.jsonl")
    (tmp_path / "metrics.json").write_text('{"task_a.macro_f1": "high"}')
    with pytest.raises(ContractError, match="metrics.json: not a flat object of numbers"):
        Metrics.read(tmp_path / "metrics.json")


def test_report_keeps_its_file_names():
    task = {"n": 2, "accuracy": 0.5, "macro_f1": 0.4, "ece": float("nan"), "log_loss": 0.7,
            "class": {"sports": {"precision": 1.0, "recall": 0.5, "f1": 0.6, "support": 2}},
            "confusion": {"labels": ["sports"], "matrix": [[1]]}}
    report = EvaluationReport.model_validate({"variant": "frozen", "split": "test", "tasks": {"task_a": task},
                                              "inference": {"sentences_per_s": 9.0, "seconds": 1.0, "sentences": 9,
                                                            "batch_size": 32, "repeats": 1, "threads": 2},
                                              "model": {"parameters": 10, "memory_mb": 0.1}})
    dumped = report.dump()
    assert set(dumped["tasks"]["task_a"]) == set(task)  # "class" by its file name, no "domain": null added
    assert dumped["model"] == {"parameters": 10, "memory_mb": 0.1}


def test_evaluate_on_a_hand_edited_train_folder_exits_2_naming_file_and_field(tmp_path, mini_splits):
    from mtst.cli import app

    folder = tmp_path / "frozen"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "mtst.json").write_text("{}")  # the summary is checked before the model loads
    data = _summary().dump()
    del data["trained_tasks"]
    (folder / "train_summary.json").write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["evaluate", "--train-dir", str(folder), "--splits", str(mini_splits),
                                      "--out", str(tmp_path / "eval"), "--no-track", "--metrics", str(tmp_path / "m.json")])
    assert result.exit_code == 2, result.output
    assert f"{folder / 'train_summary.json'}" in result.output and "trained_tasks: Field required" in result.output
    assert not (tmp_path / "eval").exists() and not (tmp_path / "m.json").exists()
