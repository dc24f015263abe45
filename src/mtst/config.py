"""Typed parameters: one pydantic model per ``params.yaml`` section.

DVC tracks each section separately, so a step reads only its own section and a change to one variant's
training params does not invalidate data preparation. Profiles (``profiles/<name>.yaml``) are partial
overlays deep-merged onto ``params.yaml``; ``mtst params use <profile>`` writes the merge back so DVC sees it.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
    encoder_dropout: float | None = Field(None, ge=0, lt=1, description="override the encoder's dropout; null = as pretrained")
    max_length: int = Field(128, ge=8, le=512)


class ValidateParams(Section):
    """Data validation (Great Expectations) of the raw data, the splits and the augmented split."""

    min_chars: int = Field(2, ge=1, description="shortest allowed text, in characters")
    max_chars: int = Field(5000, ge=1, description="longest allowed text, in characters")
    min_per_class: int = Field(10, ge=1, description="rows every declared label needs in every split")
    max_imbalance_ratio: float | None = Field(20.0, gt=1, description="largest/smallest class above this: a warning")
    labels: dict[Literal["task_a", "task_b"], list[str]] = Field(
        default_factory=dict, description="declared label set per task; default: the source's labels")
    sample_rows: int = Field(5, ge=1, le=100, description="offending rows shown per failed expectation")

    @model_validator(mode="after")
    def _bounds(self) -> "ValidateParams":
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars {self.min_chars} is above max_chars {self.max_chars}")
        return self


class AugmentOp(Section):
    """One EDA operation: ``rate`` is the share of words it changes, ``copies`` the new rows per sentence."""

    rate: float = Field(0.1, ge=0, le=1)
    copies: int = Field(1, ge=0, le=32, description="0 turns the operation off")


class AugmentParams(Section):
    """EDA augmentation (Wei & Zou, 2019) of the Task B training split; validation and test are never touched."""

    seed: int = 13
    synonym: AugmentOp = AugmentOp()
    insert: AugmentOp = AugmentOp()
    swap: AugmentOp = AugmentOp()
    delete: AugmentOp = AugmentOp()
    sentiment_min_valence: float = Field(0.5, ge=0, le=4, description="VADER words with |valence| >= this are kept")
    negation_window: int = Field(3, ge=0, le=10, description="tokens after a negation that are locked in place")
    max_tries: int = Field(5, ge=1, le=50, description="attempts per copy to produce a new, distinct text")
    validate_output: bool = Field(True, description="run the no-leakage / no-empty checks on the augmented split")


# The params.yaml section is called ``validate``, which shadows pydantic's deprecated ``BaseModel.validate``
# classmethod; on an instance ``params.validate`` is the section, as intended.
warnings.filterwarnings("ignore", message='Field name "validate" in "Params" shadows', category=UserWarning)


class EvaluateParams(Section):
    """``mtst evaluate``: test-set metrics, calibration, per-domain scores, inference cost of one variant."""

    split: Literal["validation", "test"] = "test"
    batch_size: int = Field(64, ge=1)
    ece_bins: int = Field(15, ge=2, description="equal-width confidence bins for expected calibration error")
    throughput_sentences: int = Field(512, ge=8, description="test sentences timed for sentences/s")
    throughput_batch_size: int = Field(32, ge=1)
    throughput_repeats: int = Field(3, ge=1, description="timed passes; the median counts")
    seed: int = 13
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "torch", description="what runs the model for the metrics, the timing and the logged pyfunc "
                             "(mtst.export.backend: ONNX Runtime fp32, or int8 weights)")


class TrackingParams(Section):
    """MLflow. The store is ``$MLFLOW_TRACKING_URI`` if set, else ``uri``, else ``sqlite:///<repo>/mlflow.db``
    with artifacts in ``<repo>/mlartifacts``."""

    enabled: bool = True
    uri: str | None = None
    experiment: str = "mtst"
    log_model: bool = Field(True, description="log each variant as an MLflow pyfunc model")
    log_step_metrics: bool = Field(True, description="per-step training curves from history.jsonl")
    curve_points: int | None = Field(500, ge=2, description="at most this many steps per logged curve (evenly spaced, "
                                                            "every stage's first and last kept); null = every step")
    preflight_timeout_s: float = Field(3.0, gt=0, le=60)


class CompareParams(Section):
    """``mtst compare``: the variant table, multi-task vs separate decision, ablations, champion registration."""

    selection_metric: str = Field("mean_macro_f1", description="metrics.json key; only variants that serve every task compete")
    registered_model: str = "mtst-multitask"
    alias: str = "champion"
    register_champion: bool = True
    force_champion: bool = Field(False, description="move the alias to this run's best variant even where it does not "
                                 "beat the champion on the same test data (see mtst.registry)")
    tolerance: float = Field(1.0, ge=0, description="macro-F1 points below which a difference counts as a tie")
    bootstrap: int = Field(1000, ge=0, description="paired bootstrap resamples for macro-F1 differences (0: off)")
    measure_inference: bool = Field(True, description="re-time the models side by side in one process")
    inference_sentences: int = Field(256, ge=8)
    inference_batch_size: int = Field(32, ge=1)
    inference_repeats: int = Field(3, ge=1)
    seed: int = 13
    serving_backends: list[Literal["torch", "onnx", "onnx-int8"]] = Field(
        ["torch", "onnx", "onnx-int8"], description="backends the champion is scored, timed and sized with for the "
        "serving table (mtst.comparison.serving); torch, the quality reference, must be one; empty: no table")
    serving_tolerance: float = Field(0.5, ge=0, description="macro-F1 points a backend may lose against torch on "
                                     "each task and still serve the registered champion")

    @model_validator(mode="after")
    def _serving_reference(self) -> CompareParams:
        backends = self.serving_backends
        if len(set(backends)) != len(backends):
            raise ValueError(f"serving_backends lists a backend twice: {backends}")
        if backends and "torch" not in backends:
            raise ValueError(f"serving_backends {backends} lacks torch, the quality reference of the others")
        return self


class PipelineParams(Section):
    """The variants ``dvc repro`` and the kfp pipeline train, in two waves (see ``mtst.plan``).

    ``followups`` is the one place a variant's starting model is declared (``{variant: source variant}``):
    DVC's templating iterates this mapping (``${key}``, ``${item}``) to depend on the source's model, and
    cannot look a value up by a computed key, so it is not also written as ``train.variants.<v>.init_from``;
    :func:`attach_followups` copies it there for the trainer."""

    variants: list[str] = Field(min_length=1, description="trained from the pretrained encoder (first wave)")
    followups: dict[str, str] = Field(default_factory=dict, description="variant: the variant whose model it starts from")


class CurveParams(Section):
    """The Task B learning curve (``mtst curve``): every variant at every Task B training size and seed. A point's
    seed draws its Task B subset (``prepare.seed``), its augmentation and its training; ``null`` size = all rows."""

    sizes: list[int | None] = Field([250, 500, 1000, 2000, 4000, None], min_length=1,
                                    description="Task B training rows per point; null = every training row")
    seeds: list[int] = Field([13, 14, 15], min_length=1)
    variants: list[str] = Field(["frozen", "staged", "staged_noaug", "single_b"], min_length=1,
                                description="train.variants to train at every point (none may be a follow-up)")
    epoch_scale: float = Field(1.0, gt=0, description="multiplies train.epoch_scale for the curve's points")
    out: str = Field("reports", description="folder of learning_curve.{md,png,json}")

    @model_validator(mode="after")
    def _distinct(self) -> CurveParams:
        for name in ("sizes", "seeds", "variants"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"curve.{name} lists a value twice: {values}")
        if any(size is not None and size < 1 for size in self.sizes):
            raise ValueError(f"curve.sizes must be positive row counts or null (all): {self.sizes}")
        return self


def attach_followups(train: TrainParams, followups: dict[str, str], where: str = "params.yaml") -> TrainParams:
    """``train`` with ``init_from`` of each follow-up variant set from ``followups`` (the single declaration);
    a variant that sets ``init_from`` itself, or a follow-up that ``train.variants`` lacks, is an error."""
    for name, variant in train.variants.items():
        if variant.init_from is not None and variant.init_from != followups.get(name):
            raise ConfigError(f"{where}: train.variants.{name}.init_from: declare follow-up variants in "
                              f"pipeline.followups ({name}: {variant.init_from}), not in the variant")
    missing = [name for name in followups if name not in train.variants]
    if missing:
        raise ConfigError(f"{where}: pipeline.followups: {missing} not defined in train.variants")
    variants = {name: variant.model_copy(update={"init_from": followups[name]}) if name in followups else variant
                for name, variant in train.variants.items()}
    return train.model_copy(update={"variants": variants})


class Params(BaseModel):
    """All of params.yaml: one model per section, each validated when the file is loaded (a step then reads only
    its own section). An unknown top-level section is refused: a misspelt one would otherwise be ignored and
    its step would run on the defaults."""

    model_config = ConfigDict(extra="forbid")

    data: DataParams = DataParams()
    prepare: PrepareParams = PrepareParams()
    model: ModelParams = ModelParams()
    train: TrainParams | None = None
    evaluate: EvaluateParams = EvaluateParams()
    compare: CompareParams = CompareParams()
    tracking: TrackingParams = TrackingParams()
    validate: ValidateParams = ValidateParams()  # type: ignore[assignment]
    augment: AugmentParams = AugmentParams()
    pipeline: PipelineParams | None = None
    curve: CurveParams = CurveParams()

    @model_validator(mode="after")
    def _plan(self) -> "Params":
        """The pipeline's variants exist and each follow-up starts from a first-wave variant; follow-ups get
        their ``init_from`` (so every consumer of these params, the trainer included, sees the same plan)."""
        if self.pipeline is None or self.train is None:
            return self
        unknown = [v for v in self.pipeline.variants if v not in self.train.variants]
        if unknown:
            raise ConfigError(f"params.yaml: pipeline.variants: {unknown} not defined in train.variants")
        twice = sorted({v for v in self.pipeline.variants if self.pipeline.variants.count(v) > 1}
                       | (set(self.pipeline.variants) & set(self.pipeline.followups)))
        if twice:
            raise ConfigError(f"params.yaml: pipeline: {twice} listed more than once (variants and followups)")
        for name, source in self.pipeline.followups.items():
            if source not in self.pipeline.variants:
                raise ConfigError(f"params.yaml: pipeline.followups.{name}: starts from {source!r}, which is not "
                                  f"in pipeline.variants (trained in the first wave)")
        self.train = attach_followups(self.train, self.pipeline.followups)
        return self


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
    """Merge a profile overlay into ``path`` (atomically), keeping its comments, anchors and other values.

    ruamel's round-trip mode edits the YAML in place, so ``mtst params use`` does not strip the
    documentation that lives in params.yaml's comments.
    """
    from ruamel.yaml import YAML

    from mtst.io import atomic_path

    path = Path(path)
    overlay_path = path.parent / "profiles" / f"{profile}.yaml"
    if not overlay_path.exists():
        raise ConfigError(f"profile {profile!r}: {overlay_path} does not exist")
    overlay = yaml.safe_load(overlay_path.read_text(encoding="utf-8")) or {}
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap long flow-style lines
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    document = rt.load(path.read_text(encoding="utf-8"))

    def merge(target: Any, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                merge(target[key], value)
            else:
                target[key] = value

    merge(document, overlay)
    Params.model_validate(_plain(document))  # refuse to write an invalid file
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        rt.dump(document, fh)


def _plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts / lists (for validation)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
