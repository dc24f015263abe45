"""The pipeline's DAG and its artifact layout, declared once.

``dvc.yaml`` stays the file DVC users read and run; ``tests/test_dag.py`` fails when it and :func:`dvc_stages`
disagree (stages, commands, deps, params, outs, metrics). Everything else that needs a stage's command line, its
params sections or an artifact path derives from here: the kfp components' params sections and the pipeline's
description (``mtst.kfp``), the fault-injection catalogue (``tests/faults``), the Kubernetes data job (``mtst dag
run``), the commands' default paths (``mtst.cli``) and ``make ablations`` (``mtst dag ablations``).

A stage's command is ``mtst`` plus its arguments, with ``{variant}`` where a per-variant stage names its variant:
dvc.yaml writes that as ``${item}`` (first wave, ``foreach: ${pipeline.variants}``) or ``${key}`` (follow-ups,
``foreach: ${pipeline.followups}``, whose ``${item}`` is the source variant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mtst.config import ConfigError
from mtst.contracts.comparison import REPORT_FILES
from mtst.names import checked

VARIANT = "{variant}"
"""The placeholder of a per-variant stage's variant in its arguments and paths."""

SOURCE = "{source}"
"""The placeholder of a follow-up's source variant (its starting model)."""


@dataclass(frozen=True)
class Layout:
    """Every artifact path of a workspace, relative to its root (``dvc repro``'s working directory)."""

    data: str = "data"
    splits: str = "artifacts/splits"
    validation: str = "artifacts/validation"
    augmented: str = "artifacts/augmented"
    validation_augmented: str = "artifacts/validation_augmented"
    train_root: str = "artifacts/train"
    eval_root: str = "artifacts/eval"
    metrics_root: str = "metrics"
    reports: str = "reports"
    curve_root: str = "artifacts/curve"
    kfp_package: str = "artifacts/kfp/pipeline.yaml"
    kfp_local_root: str = "artifacts/kfp-local"
    serving_root: str = "artifacts/serving"

    def train(self, variant: str) -> str:
        """A variant's training folder (model/, history.jsonl, train_summary.json)."""
        return f"{self.train_root}/{_component(variant)}"

    def evaluation(self, variant: str) -> str:
        return f"{self.eval_root}/{_component(variant)}"

    def metrics(self, variant: str) -> str:
        """The variant's DVC metrics file."""
        return f"{self.metrics_root}/{_component(variant)}.json"

    def serving(self, name: str) -> str:
        """``mtst serve``'s MLServer folder for the served model ``name`` (settings, the verified registered files)."""
        return f"{self.serving_root}/{checked(name, 'served model name')}"


def _component(variant: str) -> str:
    """A variant as a path component: the placeholders as they are (the declarations), a name once checked."""
    return variant if variant in (VARIANT, SOURCE) else checked(variant)


LAYOUT = Layout()
"""The layout every command defaults to and dvc.yaml spells out."""


Foreach = Literal["variants", "followups"] | None


@dataclass(frozen=True)
class Stage:
    """One step of the DAG: the ``mtst`` command that runs it (``mtst.steps.<step>.run`` behind it), the artifacts
    it reads (``deps``) and writes (``outs``, ``metrics``), the code it depends on, and the params.yaml sections
    (or keys) it reads. ``foreach``: per variant of ``pipeline.variants`` or ``pipeline.followups``; ``dvc``: False
    for a step DVC does not run as a stage (``fetch``: data.dvc tracks its output)."""

    name: str
    args: tuple[str, ...]
    deps: tuple[str, ...]
    code: tuple[str, ...]
    params: tuple[str, ...]
    outs: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    uncached_outs: tuple[str, ...] = ()
    foreach: Foreach = None
    dvc: bool = True
    comments: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def sections(self) -> tuple[str, ...]:
        """The params.yaml sections this stage reads (``train.seed`` -> ``train``), in order."""
        return tuple(dict.fromkeys(p.split(".")[0] for p in self.params))

    def argv(self, variant: str | None = None, source: str | None = None) -> list[str]:
        """The command's arguments after ``mtst`` for one variant (per-variant stages need it)."""
        return [_fill(a, variant, source) for a in self.args]

    def paths(self, kind: Literal["deps", "outs", "metrics", "uncached_outs"], variant: str | None = None,
              source: str | None = None) -> list[str]:
        return [_fill(p, variant, source) for p in getattr(self, kind)]


def _fill(text: str, variant: str | None, source: str | None) -> str:
    if VARIANT in text and variant is None:
        raise ConfigError(f"{text!r} names a variant: give --variant")
    if SOURCE in text and source is None:
        raise ConfigError(f"{text!r} names a follow-up's source variant: give one")
    if VARIANT in text:
        checked(variant)
    if SOURCE in text:
        checked(source, "source variant name")
    return text.replace(VARIANT, variant or "").replace(SOURCE, source or "")


def _train_params() -> tuple[str, ...]:
    """What a variant's training depends on: the model section, every ``train`` key that shapes the weights (those
    the checkpoint fingerprint holds: all but ``fingerprint.OPERATIONAL``) and the variant's own recipe."""
    from mtst.training.fingerprint import OPERATIONAL
    from mtst.training.schema import TrainParams

    shaping = [f"train.{key}" for key in TrainParams.model_fields if key not in OPERATIONAL]
    return ("model", *shaping, f"train.variants.{VARIANT}")


L = LAYOUT
_TRAIN_CODE = ("src/mtst/model", "src/mtst/training", "src/mtst/steps/train.py", "src/mtst/contracts", "src/mtst/data")
_VALIDATE_CODE = ("src/mtst/validation", "src/mtst/steps/validate.py", "src/mtst/tracking", "src/mtst/data",
                  "src/mtst/contracts")
_EVAL_CODE = ("src/mtst/evaluation", "src/mtst/steps/evaluate.py", "src/mtst/tracking", "src/mtst/contracts")


def _stages() -> tuple[Stage, ...]:
    train_args = ("train", "--variant", VARIANT, "--splits", L.splits, "--augmented", L.augmented,
                  "--out", L.train(VARIANT))
    train_deps = (L.splits, L.augmented, L.validation_augmented)
    eval_args = ("evaluate", "--variant", VARIANT, "--splits", L.splits, "--train-dir", L.train(VARIANT),
                 "--out", L.evaluation(VARIANT), "--metrics", L.metrics(VARIANT))
    eval_deps = (L.train(VARIANT), L.splits)
    train = dict(args=train_args, code=_TRAIN_CODE, params=_train_params(), outs=(L.train(VARIANT),))
    evaluate = dict(args=eval_args, deps=eval_deps, code=_EVAL_CODE, params=("evaluate", "tracking"),
                    outs=(L.evaluation(VARIANT),), metrics=(L.metrics(VARIANT),))
    return (
        Stage("fetch", ("data", "fetch", "--out", L.data), (), ("src/mtst/data", "src/mtst/steps/fetch.py"),
              ("data",), (L.data,), dvc=False),
        Stage("prepare", ("data", "prepare", "--data-dir", L.data, "--out", L.splits), (L.data,),
              ("src/mtst/data", "src/mtst/steps/prepare.py"), ("prepare",), (L.splits,)),
        Stage("validate", ("validate", "--data-dir", L.data, "--splits", L.splits, "--out", L.validation),
              (L.data, L.splits), _VALIDATE_CODE,
              ("validate", "tracking"), (L.validation,)),
        Stage("augment", ("augment", "--splits", L.splits, "--out", L.augmented, "--no-progress"),
              (L.splits, L.validation), ("src/mtst/augment", "src/mtst/steps/augment.py", "src/mtst/data", "src/mtst/contracts"),
              ("augment",),
              (L.augmented,), comments={L.validation: "augment only after the splits passed validation"}),
        Stage("validate_augmented", ("validate", "--no-raw", "--splits", L.splits, "--augmented", L.augmented,
                                     "--out", L.validation_augmented),
              (L.splits, L.augmented), _VALIDATE_CODE,
              ("validate", "tracking"), (L.validation_augmented,)),
        Stage("train", deps=train_deps, foreach="variants", **train),
        Stage("train_followup", deps=(*train_deps, L.train(SOURCE)), foreach="followups", **train),
        Stage("evaluate", foreach="variants", **evaluate),
        Stage("evaluate_followup", foreach="followups", **evaluate),
        Stage("compare", ("compare", "--eval-root", L.eval_root, "--out", L.reports), (L.eval_root, L.train_root),
              ("src/mtst/comparison", "src/mtst/contracts", "src/mtst/registry.py", "src/mtst/steps/compare.py",
               "src/mtst/tracking"),
              ("compare", "tracking", "pipeline"), (), uncached_outs=tuple(f"{L.reports}/{f}" for f in REPORT_FILES)),
    )


STAGES: tuple[Stage, ...] = _stages()
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}

DATA_STAGES = ("fetch", "prepare", "validate", "augment", "validate_augmented")
"""Everything before training: what the Kubernetes data job runs (``mtst dag run``) into a shared workspace."""


def stage(name: str) -> Stage:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ConfigError(f"no stage {name!r}; the DAG has {list(BY_NAME)}") from None


# ---- dvc.yaml -------------------------------------------------------------------------------------------------

_DVC_VARS = {"variants": {VARIANT: "${item}"}, "followups": {VARIANT: "${key}", SOURCE: "${item}"}}


def _dvc_text(text: str, foreach: Foreach) -> str:
    for placeholder, dvc_var in _DVC_VARS.get(foreach or "", {}).items():
        text = text.replace(placeholder, dvc_var)
    return text


def dvc_stage(s: Stage) -> dict[str, Any]:
    """One stage as dvc.yaml writes it (templated with ``${item}`` / ``${key}`` for a per-variant stage)."""
    t = lambda text: _dvc_text(text, s.foreach)  # noqa: E731
    body: dict[str, Any] = {"cmd": " ".join(t(a) for a in ["mtst", *s.args]),
                            "deps": [t(d) for d in (*s.deps, *s.code)], "params": [t(p) for p in s.params]}
    outs: list[Any] = [t(o) for o in s.outs] + [{t(o): {"cache": False}} for o in s.uncached_outs]
    if outs:
        body["outs"] = outs
    if s.metrics:
        body["metrics"] = [{t(m): {"cache": False}} for m in s.metrics]
    if s.foreach:
        return {"foreach": f"${{pipeline.{s.foreach}}}", "do": body}
    return body


def dvc_stages() -> dict[str, dict[str, Any]]:
    """dvc.yaml's ``stages`` mapping, as the declaration says it must be."""
    return {s.name: dvc_stage(s) for s in STAGES if s.dvc}
