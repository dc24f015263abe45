"""Pipeline arguments from params.yaml: the same effective params drive ``dvc repro`` and the kfp pipeline.

The whole params mapping (params.yaml + profile overlay) travels as one JSON string, ``params_json``; each
component parses the section its step reads. The freeze variants come from ``train.variants`` and split
into two waves: variants trained from scratch, and follow-ups that start from another variant's model
(``init_from``), which train after the first wave's models are collected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mtst.config import ConfigError, load_params, read_params_dict
from mtst.kfp import settings


def effective_params(params_path: str | Path = "params.yaml", profile: str | None = None) -> dict[str, Any]:
    """params.yaml with the profile merged, validated by the same models the steps use."""
    load_params(params_path, profile)  # raises ConfigError with the file and key
    return read_params_dict(params_path, profile)


def variant_sources(params: Mapping[str, Any]) -> dict[str, str | None]:
    """``{variant: init_from}`` in params order (the fallback list when there is no ``train.variants``)."""
    variants = (params.get("train") or {}).get("variants")
    if not variants:
        return dict(settings.FALLBACK_VARIANTS)
    if isinstance(variants, Mapping):
        return {str(name): (cfg or {}).get("init_from") for name, cfg in variants.items()}
    return {str(name): None for name in variants}


def variant_waves(params: Mapping[str, Any], selected: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """(from-scratch variants, follow-up variants) to train; a selected follow-up pulls in its source."""
    sources = variant_sources(params)
    chosen = list(selected or sources)
    unknown = [v for v in chosen if v not in sources]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; params define {list(sources)}")
    needed = set(chosen)
    for name in chosen:
        source = sources[name]
        if source is not None:
            if source not in sources:
                raise ConfigError(f"variant {name!r} starts from unknown variant {source!r}")
            if sources[source] is not None:
                raise ConfigError(f"variant {name!r} starts from {source!r}, which itself starts from "
                                  f"{sources[source]!r}: the pipeline supports one level of init_from")
            needed.add(source)
    first = [v for v in sources if v in needed and sources[v] is None]
    followups = [v for v in sources if v in needed and sources[v] is not None]
    return first, followups


CLAIM_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
"""A PersistentVolumeClaim name: a DNS-1123 subdomain (lower-case letters, digits, '-', '.'; at most 253)."""


def pipeline_arguments(params_path: str | Path = "params.yaml", profile: str | None = None,
                       variants: Iterable[str] | None = None, **overrides: Any) -> dict[str, Any]:
    """The pipeline's runtime arguments: ``params_json``, ``variants``, ``followup_variants`` (+ overrides
    such as ``accelerator_type`` / ``accelerator_count`` / ``checkpoint_pvc``; None values are dropped, and
    so is an empty claim name: no claim)."""
    params = effective_params(params_path, profile)
    first, followups = variant_waves(params, variants)
    claim = overrides.pop("checkpoint_pvc", None)
    if claim and not CLAIM_NAME.fullmatch(claim):
        raise ConfigError(f"--checkpoint-pvc {claim!r} is not a PersistentVolumeClaim name (lower-case letters, "
                          "digits, '-' and '.', starting and ending with a letter or digit, at most 253)")
    args: dict[str, Any] = {"params_json": json.dumps(params, sort_keys=True), "variants": first,
                            "followup_variants": followups}
    args.update({k: v for k, v in overrides.items() if v is not None})
    if claim:
        args["checkpoint_pvc"] = claim
    return args
