"""Which variants a pipeline run trains, in which wave, and which model folder each one starts from.

params.yaml's ``pipeline`` key declares it once: ``variants`` train from the pretrained encoder (first
wave), ``followups`` map a variant to the variant whose model it starts from (second wave). ``dvc.yaml``
iterates that key, ``mtst train`` finds a follow-up's starting model with :func:`init_model_dir`, the kfp
pipeline takes its two waves from :func:`pipeline_plan`, and ``compare`` orders its table by ``Plan.all``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mtst.config import ConfigError, Params
from mtst.names import child


@dataclass(frozen=True)
class Plan:
    """``variants``: the first wave, in params order; ``followups``: ``{variant: source}``, each source in
    ``variants`` (one level: a follow-up never starts from another follow-up)."""

    variants: list[str]
    followups: dict[str, str]

    @property
    def all(self) -> list[str]:
        """Every variant, each follow-up right after its source (the order reports list them in)."""
        return [name for v in self.variants for name in [v, *(f for f, s in self.followups.items() if s == v)]]


def pipeline_plan(params: Params, selected: Iterable[str] | None = None) -> Plan:
    """The plan of params.yaml's ``pipeline`` key (already checked by ``Params``), or only ``selected``
    variants of ``train.variants``: a selected follow-up pulls in its source."""
    if params.pipeline is None or params.train is None:
        raise ConfigError("params.yaml: no 'pipeline' section (pipeline.variants: the variants to train, "
                          "pipeline.followups: {variant: source variant})")
    if selected is None:
        return Plan(list(params.pipeline.variants), dict(params.pipeline.followups))
    chosen = list(dict.fromkeys(selected))
    unknown = [v for v in chosen if v not in params.train.variants]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; params.yaml train.variants defines "
                          f"{list(params.train.variants)}")
    sources = {v: params.train.variants[v].init_from for v in chosen}
    followups = {v: s for v, s in sources.items() if s is not None}
    needed = (set(chosen) - set(followups)) | set(followups.values())
    first = [v for v in params.train.variants if v in needed]
    return Plan(first, followups)


def declared_order(params: Params) -> list[str] | None:
    """Every variant of params.yaml's ``pipeline`` key, each follow-up after its source (what ``compare`` lists
    its rows by); None without the key. Needs only the ``pipeline`` section (the kfp compare task gets no
    ``train``)."""
    if params.pipeline is None:
        return None
    return Plan(list(params.pipeline.variants), dict(params.pipeline.followups)).all


def model_dir(train_root: str | Path, variant: str) -> Path:
    """Where ``mtst train`` writes ``variant``'s model under a train root (dvc.yaml: ``artifacts/train``)."""
    return child(train_root, variant) / "model"


def init_model_dir(params: Params, variant: str, train_root: str | Path) -> Path | None:
    """The model folder ``variant`` starts from (its source's model under ``train_root``); None for a variant
    trained from the pretrained encoder."""
    source = params.train.variants[variant].init_from if params.train else None
    return model_dir(train_root, source) if source else None
