"""``load_backend(path, backend)``: the model that answers ``mtst predict``, ``mtst evaluate`` and the pyfunc,
run by torch, by ONNX Runtime (fp32, or int8 weights) or by OpenVINO (fp32 or bf16), behind one inference
surface (the backends: ``mtst.backends.BackendName``).

``path`` is a saved model folder, a training folder holding ``model/``, or an ONNX export folder. A torch
model asked for an ONNX backend is exported once and kept in a cache keyed by its files, the quantisation
settings and the library versions (``.cache/onnx``, or ``$MTST_ONNX_CACHE``), so the switch costs one
export per model, not one per command. An export folder answers only the backends of its kind (the fp32
export: ``onnx``, ``openvino``, ``openvino-bf16``; the int8 one: ``onnx-int8``): the name of the backend
says what runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mtst.backends import BACKENDS, EXPORT_OF, RUNTIME_OF, backends_of
from mtst.config import ConfigError
from mtst.evaluation.errors import ModelNotFoundError
from mtst.export.layout import CONFIG_FILE, is_export, read_config
from mtst.io import MARKER, sha256_file

__all__ = ["BACKENDS", "cache_root", "cached_export", "export_for", "load_backend"]


def cache_root() -> Path:
    return Path(os.environ.get("MTST_ONNX_CACHE", ".cache/onnx"))


def export_key(model_dir: Path, int8: bool) -> str:
    """Digest of everything an export depends on: the model folder's files, the export settings, the versions."""
    from mtst.export.onnx_export import OPSET, QUANTISATION

    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != MARKER):
        digest.update(f"{path.relative_to(model_dir).as_posix()}\0{sha256_file(path)}\n".encode())
    settings = {"opset": OPSET, "quantisation": QUANTISATION if int8 else None,
                "versions": [version(name) for name in ("torch", "transformers", "onnx", "onnxruntime")]}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return f"{digest.hexdigest()[:16]}-{'int8' if int8 else 'fp32'}"


def cached_export(model_dir: Path, int8: bool) -> Path:
    """The export of ``model_dir`` from the cache, made (atomically) on first use."""
    from mtst.export.onnx_export import export_onnx

    folder = cache_root() / export_key(model_dir, int8)
    if not (folder / CONFIG_FILE).is_file():
        export_onnx(model_dir, folder, int8=int8)
    return folder


def export_for(model_dir: Path, backend: str) -> Path:
    """The cached export of ``model_dir`` that ``backend`` (not torch) runs."""
    return cached_export(model_dir, int8=EXPORT_OF[backend] == "int8")


def _run_export(folder: Path, backend: str, threads: int | None) -> Any:
    if RUNTIME_OF[backend] == "openvino":
        from mtst.export.openvino_model import OpenVinoModel

        return OpenVinoModel.load(folder, threads, bf16=backend == "openvino-bf16")
    from mtst.export.onnx_model import OnnxModel

    return OnnxModel.load(folder, threads)


def load_backend(path: str | Path, backend: str = "torch", threads: int | None = None) -> Any:
    """A ``MultiTaskSentenceTransformer`` (``torch``), an ``OnnxModel`` (``onnx``, ``onnx-int8``) or an
    ``OpenVinoModel`` (``openvino``, ``openvino-bf16``), the last two on ``threads`` cores (default torch's
    thread count)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = Path(path)
    if is_export(path):
        made = "int8" if read_config(path).get("quantisation") else "fp32"
        if backend not in backends_of(made):
            raise ModelNotFoundError(f"{path} is an {made} ONNX export, for backend {' | '.join(backends_of(made))}, "
                                     f"not {backend!r}: give the saved model folder instead (it is exported on first "
                                     f"use), or an export made {'with' if backend == 'onnx-int8' else 'without'} --int8")
        return _run_export(path, backend, threads)
    from mtst.export.onnx_export import resolve_model_dir

    source = resolve_model_dir(path)
    if backend == "torch":
        from mtst.model import MultiTaskSentenceTransformer

        return MultiTaskSentenceTransformer.load(source)
    return _run_export(export_for(source, backend), backend, threads)
