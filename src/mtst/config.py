"""Typed parameters: one pydantic model per ``params.yaml`` section.

DVC tracks each section separately, so a step reads only its own section and a change to one variant's
training params does not invalidate data preparation. Profiles (``profiles/<name>.yaml``) are partial
overlays deep-merged onto ``params.yaml``; ``mtst params use <profile>`` writes the merge back so DVC sees it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtst.training.schema import TrainParams


class ConfigError(ValueError):
    """params.yaml or a profile is invalid; the message names the file and the offending key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TopicSource(Section):
    """Task A. ``path`` replaces the packaged BBC News corpus with a user CSV / JSONL / Parquet file."""

    path: str | None = None
    val_frac: float = Field(0.1, gt=0, lt=0.5)
    test_frac: float = Field(0.2, gt=0, lt=0.5)
    min_words: int = Field(4, ge=1)


class SentimentSource(Section):
    """Task B. VADER mean ratings map to negative / neutral / positive with the two thresholds."""

    path: str | None = None
    neg_threshold: float = -0.5
    pos_threshold: float = 0.5
    val_frac: float = Field(0.1, gt=0, lt=0.5)
    test_frac: float = Field(0.25, gt=0, lt=0.5)


class DataParams(Section):
    seed: int = 13
    topic: TopicSource = TopicSource()
    sentiment: SentimentSource = SentimentSource()


class PrepareParams(Section):
    """Limits applied on top of the fixed splits: the scarce Task B training set, and caps for fast profiles."""

    seed: int = 13
    task_a_train_limit: int | None = Field(None, ge=1)
    task_b_train_limit: int | None = Field(2000, ge=1)
    validation_limit: int | None = Field(None, ge=1, description="cap on validation rows per task (checked after every stage)")
    test_limit: int | None = Field(None, ge=1, description="cap on test rows per task (fast profiles only)")


class ModelParams(Section):
    encoder: str | None = Field(None, description="local HF model dir; null = packaged all-MiniLM-L6-v2")
    head: Literal["linear", "mlp"] = "linear"
    head_hidden: int = Field(256, ge=1)
    head_dropout: float = Field(0.1, ge=0, lt=1)
    max_length: int = Field(128, ge=8, le=512)


class Params(BaseModel):
    """All sections. Sections owned by later steps are kept as raw dicts until their step parses them."""

    model_config = ConfigDict(extra="allow")

    data: DataParams = DataParams()
    prepare: PrepareParams = PrepareParams()
    model: ModelParams = ModelParams()
    train: TrainParams | None = None


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_params_dict(path: str | Path = "params.yaml", profile: str | None = None) -> dict[str, Any]:
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    raw = raw or {}
    if profile:
        overlay_path = path.parent / "profiles" / f"{profile}.yaml"
        if not overlay_path.exists():
            raise ConfigError(f"profile {profile!r}: {overlay_path} does not exist")
        raw = deep_merge(raw, yaml.safe_load(overlay_path.read_text(encoding="utf-8")) or {})
    return raw


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    try:
        return Params.model_validate(read_params_dict(path, profile))
    except ValidationError as exc:
        raise ConfigError(f"{path}{f' + profile {profile}' if profile else ''}: {exc}") from None


def write_profile(path: str | Path, profile: str) -> None:
    """Merge a profile overlay into ``path`` (atomically), keeping the other values."""
    from mtst.io import write_text

    merged = read_params_dict(path, profile)
    header = f"# Active profile: {profile} (written by `mtst params use {profile}`; edit freely).\n"
    write_text(path, header + yaml.safe_dump(merged, sort_keys=False))
