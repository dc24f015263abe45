"""The ``params.yaml`` sections: one pydantic model per pipeline step (``extra="forbid"``), gathered by
``mtst.config.Params``. ``train`` lives in ``mtst.training.schema`` beside the trainer it configures.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mtst.backends import TABLE, BackendName, backend_named
from mtst.names import VariantName
from mtst.tasks import TASK_NAMES


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
    task_a_train_limit: int | None = Field(4000, ge=1, description="cap on Task A training rows: abundant, capped for CPU time")
    task_b_train_limit: int | None = Field(2000, ge=1)
    validation_limit: int | None = Field(500, ge=1, description="cap on validation rows per task (checked after every stage)")
    test_limit: int | None = Field(2000, ge=1, description="cap on test rows per task")


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
    labels: dict[Literal[TASK_NAMES], list[str]] = Field(
        default_factory=dict,
        description="declared label set per task, checked instead of the prepared data's; default: the data's labels")
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


class EvaluateParams(Section):
    """``mtst evaluate``: test-set metrics, calibration, per-domain scores, inference cost of one variant."""

    split: Literal["validation", "test"] = "test"
    batch_size: int = Field(32, ge=1)
    ece_bins: int = Field(15, ge=2, description="equal-width confidence bins for expected calibration error")
    throughput_sentences: int = Field(256, ge=8, description="test sentences timed for sentences/s")
    throughput_batch_size: int = Field(32, ge=1)
    throughput_repeats: int = Field(1, ge=1, description="timed passes, the median counts (compare re-times the models side by side)")
    seed: int = 13
    backend: BackendName = Field(
        "torch", description="what runs the model for the metrics, the timing and the logged pyfunc "
                             "(mtst.backends.BackendName: ONNX Runtime fp32 or int8, OpenVINO fp32, bf16 or int8; "
                             "openvino-int8 is calibrated on the validation split)")


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
    serving_backends: list[BackendName] = Field(
        ["torch", "onnx-int8", "openvino-bf16", "openvino-int8"],
        description="backends the champion is scored, timed and sized with for the serving table "
                    "(mtst.comparison.serving); torch, the quality reference, must be one; empty: no table. "
                    "The fp32 runtimes (onnx, openvino) are left out by default: their predictions are torch's "
                    "(the export's parity check, 1e-4), so a row adds only a speed, which "
                    "benchmarks/onnx_inference.py measures, at the cost of a pass over the test split")
    serving_tolerance: float = Field(0.5, ge=0, description="macro-F1 points a backend may lose against torch on "
                                     "each task and still serve the registered champion")
    serving_timed_sentences: int = Field(768, ge=8, description="test sentences per task every backend of the "
                                         "serving table is timed on, in turn; quality is scored on the whole split")

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

    variants: list[VariantName] = Field(min_length=1, description="trained from the pretrained encoder (first wave)")
    followups: dict[VariantName, VariantName] = Field(default_factory=dict, description="variant: the variant whose model it starts from")


class CurveParams(Section):
    """The Task B learning curve (``mtst curve``): every variant at every Task B training size and seed. A point's
    seed is its ``prepare.seed`` (its Task B subset and the other capped splits), ``augment.seed`` and ``train.seed``;
    a ``null`` size = every Task B training row."""

    sizes: list[int | None] = Field([250, 500, 1000, 2000, 4000, None], min_length=1,
                                    description="Task B training rows per point; null = every training row")
    seeds: list[int] = Field([13, 14, 15], min_length=1)
    variants: list[VariantName] = Field(["frozen", "staged", "staged_noaug", "single_b"], min_length=1,
                                description="train.variants to train at every point (none may be a follow-up)")
    epoch_scale: float = Field(1.0, gt=0, description="multiplies train.epoch_scale for the curve's points")
    lr_scales: list[float] = Field([1.0, 2.0], min_length=1,
                                   description="the tuning budget, the same for every variant: each point trains "
                                               "its variant once per scale (every stage's learning rates multiplied) "
                                               "and keeps the one with the best Task B validation macro-F1")
    tune_on: Literal["every_seed", "first_seed"] = Field(
        "first_seed", description="every_seed: each point tries every lr scale; first_seed: the first seed's points "
                                  "try them all and the other seeds train the scale chosen there for their size and "
                                  "variant (the budget tuned once, its result repeated over seeds)")
    out: str = Field("reports", description="folder of learning_curve.{md,png,json}")

    @model_validator(mode="after")
    def _distinct(self) -> CurveParams:
        for name in ("sizes", "seeds", "variants", "lr_scales"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"curve.{name} lists a value twice: {values}")
        if any(size is not None and size < 1 for size in self.sizes):
            raise ValueError(f"curve.sizes must be positive row counts or null (all): {self.sizes}")
        if any(scale <= 0 for scale in self.lr_scales):
            raise ValueError(f"curve.lr_scales must be positive: {self.lr_scales}")
        return self


class ServeParams(Section):
    """``mtst serve``: the model over the Open Inference Protocol (MLServer, ``mtst.serve``). The longest text it
    answers is ``validate.max_chars``, the same rule the data are held to: a text the data could not hold is
    outside what the model was trained and validated on."""

    host: str = Field("127.0.0.1", description="address to listen on; loopback unless you mean to expose it")
    port: int = Field(8080, ge=1, le=65535, description="HTTP (REST) port")
    grpc_port: int = Field(8081, ge=1, le=65535, description="gRPC port (MLServer always serves both)")
    metrics_port: int = Field(8082, ge=1, le=65535, description="Prometheus metrics port (/metrics)")
    backend: BackendName = Field("onnx", description="what runs the model (an export backend: the serving "
                                 "runtime has no torch); the model is exported for it on first use")
    threads: int | None = Field(None, ge=1, description="cores the runtime computes on; null: every core of the node")
    max_batch_size: int = Field(32, ge=1, description="adaptive batching: most requests merged into one model call "
                                "(1: no batching)")
    max_batch_time_ms: float = Field(10.0, ge=0, description="adaptive batching: longest a request waits for others "
                                     "to join its batch")
    max_rows: int = Field(64, ge=1, description="most texts in one request (413 above)")
    max_body_bytes: int = Field(1 << 21, ge=1024, description="largest request body in bytes (413 above, refused "
                                "before it is read)")

    @model_validator(mode="after")
    def _export_backend(self) -> ServeParams:
        if backend_named(self.backend).export is None:
            exports = ", ".join(b.name for b in TABLE if b.export is not None)
            raise ValueError(f"backend {self.backend!r} runs the torch model; serving runs an export ({exports})")
        return self
