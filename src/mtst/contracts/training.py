"""A train folder's records (``mtst train``): ``train_summary.json``, ``stages.json``, ``history.jsonl``.

Written by ``mtst.steps.train``; read by evaluate, MLflow logging, the kfp train component and compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from mtst.contracts.base import ContractError, Record, load_json, validate
from mtst.io import write_json

SUMMARY, STAGES, HISTORY, MODEL = "train_summary.json", "stages.json", "history.jsonl", "model"
MODEL_CONFIG = "mtst.json"
"""What marks a saved model folder (``MultiTaskSentenceTransformer.save``): its architecture and labels."""


class TaskScore(BaseModel):
    """Validation quality of one head, checked after every stage."""

    model_config = ConfigDict(extra="forbid")
    macro_f1: float
    accuracy: float


Scores = dict[str, TaskScore]
"""``{task: TaskScore}``."""


class TrainedParams(BaseModel):
    """The effective configuration the variant trained with (params.yaml sections as dumped)."""

    model_config = ConfigDict(extra="forbid")
    variant: dict[str, Any]
    train: dict[str, Any]
    model: dict[str, Any]


class TrainSummary(Record):
    """``train_summary.json``: what was trained, how long it took, and how good it was on validation."""

    variant: str
    description: str = ""
    tasks: list[str] = Field(description="the heads the model has")
    trained_tasks: list[str] = Field(description="the heads this variant trained")
    augmented: bool
    seed: int
    wall_s: float = Field(description="training time summed over stages (resumed runs count each attempt's share)")
    process_wall_s: float
    steps: int
    world_size: int = 1
    resumed_from_step: int | None = None
    train_rows: dict[str, int]
    train_files: dict[str, str] = Field(default_factory=dict, description="per trained task, the file its train "
                                        "split was read from (the augmented one where it was); absent before it existed")
    validation: Scores = Field(description="after the last stage")
    validation_by_stage: dict[str, Scores]
    params: TrainedParams
    task_a_retained: float | None = Field(None, description="Task A macro-F1 after / before, for init_from variants")
    recipe: str | None = Field(None, description="digest of the checkpoint fingerprint without train.seed: runs "
                                                 "with equal recipes differ only by seed (absent before it existed)")

    def dump(self) -> dict[str, Any]:
        """``task_a_retained`` is written only by a variant that starts from another's model (where it may be
        null: no Task A score before), so the other summaries are as they were before the contract."""
        return self.model_dump(mode="json", exclude=None if "task_a_retained" in self.model_fields_set
                               else {"task_a_retained"})


class StageRecord(BaseModel):
    """One training stage: where it starts and ends in the step count, and its validation scores."""

    model_config = ConfigDict(extra="forbid")
    name: str
    index: int
    start_step: int
    end_step: int
    steps: int
    tasks: list[str]
    cached_embeddings: bool
    wall_s: float
    validation: Scores
    params: dict[str, Any]


class Stages(RootModel[list[StageRecord]]):
    """``stages.json``: the stages in the order they ran."""

    @classmethod
    def read(cls, path: str | Path) -> Stages:
        return validate(cls, load_json(path), path, "a valid list of stage records")

    def write(self, path: str | Path) -> None:
        """Atomic (``mtst.io.write_json``)."""
        write_json(path, self.model_dump(mode="json"))


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """``history.jsonl``: one record per optimiser step (``step``, ``stage``, ``task``, ``loss/<task>``,
    ``lr/<group>``, ``p/<task>``, ``weight/<task>`` …); open-ended keys, so plain dicts. Absent: no steps."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ContractError(f"{path}, line {number}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise ContractError(f"{path}, line {number}: a history record needs an integer 'step'")
        rows.append(row)
    return rows


class TrainFolder:
    """A finished train folder: its model and its records, read through the contracts."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL

    def is_finished(self) -> bool:
        return (self.model_dir / MODEL_CONFIG).exists() and (self.path / SUMMARY).exists()

    def summary(self) -> TrainSummary:
        return TrainSummary.read(self.path / SUMMARY)

    def stages(self) -> list[StageRecord]:
        return Stages.read(self.path / STAGES).root if (self.path / STAGES).exists() else []

    def history(self) -> list[dict[str, Any]]:
        return read_history(self.path / HISTORY)
