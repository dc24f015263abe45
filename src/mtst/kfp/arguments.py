"""Pipeline arguments from params.yaml: the same effective params drive ``dvc repro`` and the kfp pipeline.

Each component receives only its params sections (``mtst.kfp.sections``: ``<component>_params``), like
each DVC stage lists only its own. The variants come from params.yaml's ``pipeline`` key through
``mtst.plan`` (the same key dvc.yaml iterates): ``variants`` train from the pretrained encoder,
``followup_variants`` (``[{"variant", "init_from"}]``) start from a first-wave variant's model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mtst.config import ConfigError, load_params, read_params_dict
from mtst.kfp.sections import section_arguments
from mtst.plan import pipeline_plan

CLAIM_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
"""A PersistentVolumeClaim name: a DNS-1123 subdomain (lower-case letters, digits, '-', '.'; at most 253)."""


def pipeline_arguments(params_path: str | Path = "params.yaml", profile: str | None = None,
                       variants: Iterable[str] | None = None, **overrides: Any) -> dict[str, Any]:
    """The pipeline's runtime arguments: ``<component>_params``, ``variants``, ``followup_variants`` (+
    overrides such as ``accelerator_type`` / ``accelerator_count`` / ``checkpoint_pvc``; None values are
    dropped, and so is an empty claim name: no claim). ``variants``: train only these (and their sources)."""
    plan = pipeline_plan(load_params(params_path, profile), variants)  # bad params: ConfigError naming the key
    raw = read_params_dict(params_path, profile)
    raw["pipeline"] = {"variants": plan.variants, "followups": plan.followups}  # what this run trains
    claim = overrides.pop("checkpoint_pvc", None)
    if claim and not CLAIM_NAME.fullmatch(claim):
        raise ConfigError(f"--checkpoint-pvc {claim!r} is not a PersistentVolumeClaim name (lower-case letters, "
                          "digits, '-' and '.', starting and ending with a letter or digit, at most 253)")
    args: dict[str, Any] = {**section_arguments(raw), "variants": plan.variants,
                            "followup_variants": [{"variant": v, "init_from": s} for v, s in plan.followups.items()]}
    args.update({k: v for k, v in overrides.items() if v is not None})
    if claim:
        args["checkpoint_pvc"] = claim
    return args
