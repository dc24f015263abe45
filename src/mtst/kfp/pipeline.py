"""Compile the pipeline: the params' values as its parameter defaults, the components' image set in the spec.

The pipeline itself is wiring (``pipelines.multitask_pipeline.build_pipeline``); the caller (``mtst kfp``)
passes that builder in, so this library module imports nothing from the top-level wiring packages.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mtst.dag import LAYOUT
from mtst.kfp import sections, settings
from mtst.kfp.arguments import pipeline_arguments

PipelineBuilder = Callable[..., Any]
"""``build_pipeline(arguments, *, parallelism=None, checkpoint_claim=False, retry_backoff=...)``."""


def with_image(pipeline: Any, image: str | None = None) -> Any:
    """Set every executor's image in the pipeline's spec (``image``, else ``$MTST_KFP_IMAGE``, else the default):
    what the compiled YAML names and what kfp.local's DockerRunner starts."""
    chosen = settings.component_image(image)
    for executor in pipeline.pipeline_spec.deployment_spec["executors"].values():
        executor["container"]["image"] = chosen
    return pipeline


def redacted(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments without the credentials of ``tracking.uri`` in any component's sections (what may be
    compiled into the YAML, sent to a cluster or printed; run-local passes the real ones)."""
    from mtst.redaction import redact_params

    return {k: redact_params(v) if k in sections.ARGUMENTS else v for k, v in args.items()}


def compile_pipeline(build: PipelineBuilder, out: str | Path = LAYOUT.kfp_package, *,
                     params_path: str | Path = "params.yaml", profile: str | None = None,
                     variants: Iterable[str] | None = None, image: str | None = None,
                     **overrides: Any) -> dict[str, Any]:
    """Compile the pipeline with the params' values as parameter defaults; return where and with what.
    ``checkpoint_pvc=CLAIM`` (an override) mounts that claim on training for its checkpoints."""
    from kfp import compiler

    args = redacted(pipeline_arguments(params_path, profile, variants, **overrides))
    pipeline = with_image(build(args, checkpoint_claim="checkpoint_pvc" in args), image)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:  # written, then renamed
        compiler.Compiler().compile(pipeline, f"{tmp}/pipeline.yaml", pipeline_name=settings.PIPELINE_NAME,
                                    pipeline_parameters=args)
        os.replace(f"{tmp}/pipeline.yaml", out)
    return {"package": str(out), "pipeline": settings.PIPELINE_NAME, "image": settings.component_image(image),
            "variants": args["variants"], "followup_variants": args["followup_variants"],
            "checkpoint_pvc": args.get("checkpoint_pvc")}


def compile_to_temp(build: PipelineBuilder, **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="mtst-kfp-"))
    info = compile_pipeline(build, folder / "pipeline.yaml", **kwargs)
    return folder / "pipeline.yaml", info
