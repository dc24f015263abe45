"""Load the wiring (``components/``, ``pipelines/``) and compile the pipeline.

``components/`` and ``pipelines/`` live at the repository root and hold only wiring; this module puts the
root on ``sys.path`` (found from ``MTST_REPO_ROOT``, the editable install, or the working directory) and
imports them afresh each time, so the image setting and the pipeline shape follow the call's arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from mtst.config import ConfigError
from mtst.kfp import settings
from mtst.kfp.arguments import pipeline_arguments

WIRING = ("components", "pipelines")


def repo_root() -> Path:
    """The folder that holds ``components/`` and ``pipelines/``."""
    candidates = []
    if os.environ.get("MTST_REPO_ROOT"):
        candidates.append(Path(os.environ["MTST_REPO_ROOT"]))
    candidates.append(Path(__file__).resolve().parents[3])  # src/mtst/kfp -> repository root
    cwd = Path.cwd().resolve()
    candidates += [cwd, *cwd.parents]
    for root in candidates:
        if all((root / name / "__init__.py").is_file() for name in WIRING):
            return root
    raise ConfigError("mtst kfp needs the repository checkout: no components/ and pipelines/ found "
                      "(run it from the repository, or set MTST_REPO_ROOT)")


@contextlib.contextmanager
def _image(image: str | None) -> Iterator[None]:
    old = os.environ.get("MTST_KFP_IMAGE")
    if image:
        os.environ["MTST_KFP_IMAGE"] = image
    try:
        yield
    finally:
        if image:
            if old is None:
                os.environ.pop("MTST_KFP_IMAGE", None)
            else:
                os.environ["MTST_KFP_IMAGE"] = old


def load_wiring(image: str | None = None) -> ModuleType:
    """``pipelines.multitask_pipeline`` imported afresh from the checkout, its components built with ``image``."""
    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    for name in [m for m in sys.modules if m.split(".")[0] in WIRING]:
        del sys.modules[name]
    with _image(image):
        return importlib.import_module("pipelines.multitask_pipeline")


def load_pipeline(*, followup_wave: bool = True, parallelism: int | None = None, image: str | None = None,
                  checkpoint_claim: bool = False, retry_backoff: str = settings.TRAIN_RETRY_BACKOFF) -> Any:
    """A fresh ``@dsl.pipeline`` from ``pipelines.multitask_pipeline.build_pipeline`` (its arguments)."""
    return load_wiring(image).build_pipeline(followup_wave=followup_wave, parallelism=parallelism,
                                             checkpoint_claim=checkpoint_claim, retry_backoff=retry_backoff)


def _redacted(args: dict[str, Any]) -> dict[str, Any]:
    """The compiled defaults carry no credentials from ``tracking.uri`` (run-local passes the real params)."""
    from mtst.redaction import redact_params

    return {**args, "params_json": json.dumps(redact_params(json.loads(args["params_json"])), sort_keys=True)}


def compile_pipeline(out: str | Path = "artifacts/kfp/pipeline.yaml", *, params_path: str | Path = "params.yaml",
                     profile: str | None = None, variants: Iterable[str] | None = None, image: str | None = None,
                     **overrides: Any) -> dict[str, Any]:
    """Compile the pipeline with the params' values as parameter defaults; return where and with what.
    ``checkpoint_pvc=CLAIM`` (an override) mounts that claim on training for its checkpoints."""
    from kfp import compiler

    args = pipeline_arguments(params_path, profile, variants, **overrides)
    pipeline = load_pipeline(followup_wave=bool(args["followup_variants"]), image=image,
                             checkpoint_claim="checkpoint_pvc" in args)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:  # written, then renamed
        compiler.Compiler().compile(pipeline, f"{tmp}/pipeline.yaml", pipeline_name=settings.PIPELINE_NAME,
                                    pipeline_parameters=_redacted(args))
        os.replace(f"{tmp}/pipeline.yaml", out)
    return {"package": str(out), "pipeline": settings.PIPELINE_NAME, "image": image or settings.component_image(),
            "variants": args["variants"], "followup_variants": args["followup_variants"],
            "checkpoint_pvc": args.get("checkpoint_pvc")}


def compile_to_temp(**kwargs: Any) -> tuple[Path, dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="mtst-kfp-"))
    info = compile_pipeline(folder / "pipeline.yaml", **kwargs)
    return folder / "pipeline.yaml", info
