"""The ``train:`` section of params.yaml: shared settings plus named freeze variants made of stages.

A variant is a list of stages; a stage says which parts train (``encoder``: frozen / all / top:k /
gradual), how tasks are sampled and weighted, and for how long. The six named variants in params.yaml
(frozen, full, staged, head_a_frozen, single_a, single_b) are just configurations of this schema, so
users can add their own without code.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mtst.names import VariantName
from mtst.tasks import TASK_NAMES



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplingParams(Strict):
    """Which task each optimisation step trains on. ``temperature``: p ∝ n^(1/T) (T=1 is proportional,
    T→∞ uniform); ``round_robin`` alternates tasks."""

    strategy: Literal["proportional", "temperature", "round_robin"] = "temperature"
    temperature: float = Field(2.0, gt=0)


class LossParams(Strict):
    """Per-task loss weights: ``static`` multiplies by ``weights``; ``uncertainty`` learns them (Kendall
    et al., 2018: exp(-s_t)·L_t + s_t with a learned log-variance s_t per task)."""

    weighting: Literal["static", "uncertainty"] = "static"
    weights: dict[str, float] = Field(default_factory=lambda: {"task_a": 1.0, "task_b": 1.0})


class CurriculumParams(Strict):
    """Move task sampling probabilities and/or loss weights from ``start`` to ``end`` over the stage,
    linearly (or by ``shape: cosine``). Values are per task; probabilities are renormalised."""

    target: Literal["sampling", "loss", "both"] = "both"
    start: dict[str, float] = Field(default_factory=lambda: {"task_a": 0.7, "task_b": 0.3})
    end: dict[str, float] = Field(default_factory=lambda: {"task_a": 0.3, "task_b": 0.7})
    shape: Literal["linear", "cosine"] = "linear"


class UnfreezeParams(Strict):
    """Gradual unfreezing: start with ``initial_layers`` top blocks trainable, add ``layers_per_step``
    more every ``every`` (an epoch, or ``every_steps`` steps), up to ``max_layers`` (depth + 1 includes
    the embeddings)."""

    initial_layers: int = Field(1, ge=0)
    layers_per_step: int = Field(1, ge=1)
    every: Literal["epoch", "steps"] = "steps"
    every_steps: int = Field(50, ge=1)
    max_layers: int = Field(6, ge=1)


EncoderMode = str  # "frozen" | "all" | "top:<k>" | "gradual"


class StageParams(Strict):
    name: str
    epochs: float = Field(1.0, gt=0, description="passes over the stage's training rows (sum over tasks)")
    max_steps: int | None = Field(None, ge=1, description="hard cap on steps (smoke profile)")
    encoder: EncoderMode = "frozen"
    unfreeze: UnfreezeParams = UnfreezeParams()
    freeze_heads: list[str] = Field(default_factory=list)
    tasks: list[str] | None = Field(None, description="tasks trained in this stage; default the variant's")
    lr_head: float = Field(2e-3, gt=0)
    lr_encoder: float = Field(5e-5, gt=0)
    layer_decay: float = Field(0.85, gt=0, le=1, description="lr of a block = lr_encoder * decay ** depth from top")
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    sampling: SamplingParams = SamplingParams()
    loss: LossParams = LossParams()
    curriculum: CurriculumParams | None = None

    @field_validator("encoder")
    @classmethod
    def _encoder_mode(cls, value: str) -> str:
        if value in ("frozen", "all", "gradual") or re.fullmatch(r"top:\d+", value):
            return value
        raise ValueError(f"encoder must be frozen, all, gradual or top:<k>, not {value!r}")


class VariantParams(Strict):
    description: str = ""
    tasks: list[str] = Field(default_factory=lambda: list(TASK_NAMES))
    augment: bool = Field(False, description="train Task B on the augmented split (if one is given)")
    init_from: VariantName | None = Field(None, description="start from this variant's trained model")
    ablation_of: VariantName | None = Field(None, description="the variant this one ablates (one change, said in its "
                                    "description): compare's ablation table and `make ablations` list it")
    stages: list[StageParams]

    @model_validator(mode="after")
    def _check(self) -> VariantParams:
        for task in self.tasks:
            if task not in TASK_NAMES:
                raise ValueError(f"unknown task {task!r}; tasks are {TASK_NAMES}")
        for stage in self.stages:
            for task in (stage.tasks or []) + stage.freeze_heads:
                if task not in self.tasks:
                    raise ValueError(f"stage {stage.name!r} names task {task!r}, which variant does not have")
        if not self.stages:
            raise ValueError("a variant needs at least one stage")
        return self


class TrainParams(Strict):
    seed: int = 13
    batch_size: int = Field(32, ge=1)
    length_grouping: bool = Field(True, description="batch similar lengths together (less padding)")
    pad_to: int | None = Field(None, ge=8, description="pad every batch to this length (benchmark baseline); null = dynamic padding")
    bf16: bool | Literal["auto"] = Field("auto", description="bf16 autocast for encoder forward/backward; auto = where "
                                         "the CPU (AVX512-BF16/AMX) or GPU has bf16 in hardware")
    embedding_cache: bool = Field(True, description="frozen-encoder stages train heads on cached embeddings")
    checkpoint_every: int = Field(100, ge=1, description="steps between checkpoints (also at each stage end)")
    eval_batch_size: int = Field(32, ge=1)
    threads: int | None = Field(None, ge=1, description="torch intra-op threads; null = torch default")
    device: str = Field("auto", description="auto (this rank's GPU if any, else CPU), cpu, cuda, cuda:N")
    epoch_scale: float = Field(1.0, gt=0, description="multiplies every stage's epochs (profiles)")
    max_steps_per_stage: int | None = Field(None, ge=1, description="cap on every stage's steps (smoke profile)")
    variants: dict[VariantName, VariantParams]
