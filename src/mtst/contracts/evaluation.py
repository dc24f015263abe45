"""An eval folder's records (``mtst evaluate``): ``metrics.json``, ``report.json``, ``variant.json``,
``mlflow.json``.

Written by ``mtst.steps.evaluate``; read by MLflow logging, the kfp evaluate component (confusion matrices for
the KFP UI) and compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from mtst.contracts.base import Record, load_json, validate
from mtst.contracts.training import Scores
from mtst.io import write_json

METRICS, REPORT, VARIANT, MLFLOW = "metrics.json", "report.json", "variant.json", "mlflow.json"


class Metrics(RootModel[dict[str, float | int]]):
    """``metrics.json`` (and DVC's ``metrics/<variant>.json``): flat numeric keys such as ``task_a.macro_f1``,
    ``task_b.domain.tweets.ece``, ``task_a.class.sports.f1``, ``mean_macro_f1``, ``inference.sentences_per_s``,
    ``model.size_mb``, ``train.wall_s``. Flat because DVC, MLflow and the KFP Metrics artifact all take flat keys."""

    @classmethod
    def read(cls, path: str | Path) -> Metrics:
        return validate(cls, load_json(path, "run `mtst evaluate` for that variant first"), path,
                        "a flat object of numbers")

    def write(self, path: str | Path) -> None:
        """Atomic (``mtst.io.write_json``)."""
        write_json(path, self.root)

    def get(self, key: str) -> float | int | None:
        return self.root.get(key)

    def macro_f1(self, task: str) -> float | None:
        value = self.root.get(f"{task}.macro_f1")
        return None if value is None else float(value)


class Confusion(BaseModel):
    """Rows are the actual labels, columns the predicted ones, both in ``labels`` order."""

    model_config = ConfigDict(extra="forbid")
    labels: list[str]
    matrix: list[list[int]]


class ClassScore(BaseModel):
    model_config = ConfigDict(extra="forbid")
    precision: float
    recall: float
    f1: float
    support: int


class DomainScore(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int
    accuracy: float
    macro_f1: float
    ece: float


class TaskReport(BaseModel):
    """One head on the test split."""

    model_config = ConfigDict(extra="forbid")
    n: int
    accuracy: float
    macro_f1: float
    ece: float
    log_loss: float
    class_: dict[str, ClassScore] = Field(alias="class")
    confusion: Confusion
    domain: dict[str, DomainScore] | None = None


class Inference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sentences_per_s: float
    seconds: float
    sentences: int
    batch_size: int
    repeats: int
    threads: int


class ModelSize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: int
    memory_mb: float | None = Field(None, description="parameters and buffers in memory (torch backend)")
    encoder_parameters: int | None = None
    head_parameters: int | None = None
    size_mb: float | None = None


class EvaluationReport(Record):
    """``report.json``: the nested test metrics of every head, with confusion matrices."""

    variant: str
    split: str
    tasks: dict[str, TaskReport]
    inference: Inference
    model: ModelSize

    def dump(self) -> dict[str, Any]:
        """Per-class scores under ``class`` (the file's name), and no ``domain`` / size keys where none apply."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StageSpan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    start_step: int
    end_step: int
    wall_s: float


class VariantInfo(Record):
    """``variant.json``: what the comparison needs from training, so compare reads no train folder."""

    variant: str
    description: str = ""
    tasks: list[str]
    labels: dict[str, list[str]]
    train_dir: str
    model_dir: str
    splits_dir: str
    split: str
    wall_s: float | None = None
    steps: int | None = None
    augmented: bool | None = None
    seed: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    validation: Scores = Field(default_factory=dict)
    stages: list[StageSpan] = Field(default_factory=list)
    recipe: str | None = Field(None, description="the training summary's recipe: what shaped the weights but the seed")
    backend: str | None = Field(None, description="what ran the model in the evaluation: one of mtst.backends.BACKENDS")


class MlflowInfo(Record):
    """``mlflow.json``: where the variant was logged (written only when tracking is on)."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    run_id: str
    stage_run_ids: dict[str, str]
    model_uri: str | None = None
    variant: str
    history_metrics: int


class EvalFolder:
    """An eval folder read through the contracts."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def metrics(self) -> Metrics:
        return Metrics.read(self.path / METRICS)

    def report(self) -> EvaluationReport:
        return EvaluationReport.read(self.path / REPORT)

    def variant(self) -> VariantInfo | None:
        return VariantInfo.read(self.path / VARIANT) if (self.path / VARIANT).exists() else None

    def mlflow(self) -> MlflowInfo | None:
        return MlflowInfo.read(self.path / MLFLOW) if (self.path / MLFLOW).exists() else None
