"""``load_backend(path, backend)``: the model that answers ``mtst predict``, ``mtst evaluate`` and the pyfunc,
run by torch, by ONNX Runtime (fp32, or int8 weights) or by OpenVINO (fp32, bf16, or NNCF's int8 graph), behind
one inference surface (the backends: ``mtst.backends.BackendName``).

``path`` is a saved model folder, a training folder holding ``model/``, or an export folder. A torch model
asked for another backend is exported once and kept in a cache keyed by its files, the quantisation settings
(for ``openvino-int8``, the calibration sentences too) and the library versions (``.cache/onnx``, or
``$MTST_ONNX_CACHE``), so the switch costs one export per model, not one per command. An export folder
answers only the backends of its kind (the fp32 export: ``onnx``, ``openvino``, ``openvino-bf16``; the int8
one: ``onnx-int8``; NNCF's: ``openvino-int8``): the name of the backend says what runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mtst.backends import BACKENDS, Backend, backend_named, backends_of
from mtst.config import ConfigError
from mtst.environment import Environment
from mtst.export.errors import ModelNotFoundError
from mtst.export.layout import CONFIG_FILE, export_kind, is_export, read_config
from mtst.io import MARKER, sha256_file
from mtst.locking import folder_lock

__all__ = ["BACKENDS", "cache_root", "cached_export", "calibration_for", "export_for", "load_backend"]

def cache_root() -> Path:
    return Environment.current().onnx_cache


def export_key(model_dir: Path, kind: str, calibration: Sequence[str] | None = None) -> str:
    """Digest of everything an export depends on: the model folder's files, the export settings (for an
    ``nncf-int8`` export, its calibration sentences), the versions."""
    from mtst.export.onnx_export import OPSET, QUANTISATION

    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != MARKER):
        digest.update(f"{path.relative_to(model_dir).as_posix()}\0{sha256_file(path)}\n".encode())
    settings: dict[str, Any] = {"opset": OPSET, "quantisation": QUANTISATION if kind == "int8" else None,
                                "versions": [version(name) for name in ("torch", "transformers", "onnx", "onnxruntime")]}
    if kind == "nncf-int8":
        from mtst.export.openvino_int8 import NNCF_QUANTISATION, calibration_digest

        settings.update(quantisation=NNCF_QUANTISATION, calibration=calibration_digest(calibration or []),
                        openvino=[version(name) for name in ("openvino", "nncf")])
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return f"{digest.hexdigest()[:16]}-{kind}"


def cached_export(model_dir: Path, kind: str = "fp32", calibration: Sequence[str] | None = None) -> Path:
    """The export of ``model_dir`` from the cache, made (atomically) on first use; the int8 exports quantise
    the cached fp32 one (``nncf-int8`` with ``calibration``)."""
    folder = cache_root() / export_key(model_dir, kind, calibration)
    if (folder / CONFIG_FILE).is_file():
        return folder
    from mtst.export.onnx_export import export_onnx, quantise_onnx

    with folder_lock(folder, "export cache entry", wait=True):  # a second process waits, then uses this export
        if (folder / CONFIG_FILE).is_file():
            return folder
        if kind == "fp32":
            export_onnx(model_dir, folder)
        elif kind == "int8":
            quantise_onnx(cached_export(model_dir, "fp32"), folder)
        else:
            from mtst.export.openvino_int8 import quantise_openvino

            quantise_openvino(cached_export(model_dir, "fp32"), folder, calibration or [])
    return folder


def export_for(model_dir: Path, backend: str, calibration: Sequence[str] | None = None) -> Path:
    """The cached export of ``model_dir`` that ``backend`` (not torch) runs; ``calibration``: the sentences an
    ``openvino-int8`` export is calibrated on (ignored by the other backends)."""
    export = backend_named(backend).export
    if export is None:
        raise ValueError(f"backend {backend!r} runs the saved model folder, not an export")
    return cached_export(model_dir, export, calibration)


def calibration_for(backends: Sequence[str], splits_dir: str | Path, tasks: Sequence[str]) -> list[str] | None:
    """The calibration sentences of a splits folder (its validation split) when one of ``backends`` runs a
    calibrated export (``openvino-int8``); else None, and nothing is read."""
    if not any(backend_named(name).export == "nncf-int8" for name in backends):
        return None
    from mtst.export.openvino_int8 import calibration_sentences

    return calibration_sentences(splits_dir, tasks)


def _run_export(folder: Path, row: Backend, threads: int | None) -> Any:
    return row.load_function()(folder, threads, **row.options)


def load_backend(path: str | Path, backend: str = "torch", threads: int | None = None,
                 calibration: Sequence[str] | None = None) -> Any:
    """A ``MultiTaskSentenceTransformer`` (``torch``), an ``OnnxModel`` (``onnx``, ``onnx-int8``) or an
    ``OpenVinoModel`` (``openvino``, ``openvino-bf16``, ``openvino-int8``), the last two on ``threads`` cores
    (default torch's thread count). ``calibration``: the sentences a model folder's ``openvino-int8`` export
    is calibrated on (see :func:`cached_export`)."""
    try:
        row = backend_named(backend)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    path = Path(path)
    if is_export(path):
        made = export_kind(read_config(path))
        if backend not in backends_of(made):
            other = f", or an export made by `mtst export {row.export_command}`" if row.export_command else ""
            raise ModelNotFoundError(f"{path} is an {made} export, for backend {' | '.join(backends_of(made))}, "
                                     f"not {backend!r}: give the saved model folder instead (it is exported on first "
                                     f"use){other}")
        return _run_export(path, row, threads)
    from mtst.export.onnx_export import resolve_model_dir

    source = resolve_model_dir(path)
    if row.export is None:  # torch: the saved folder itself
        return row.load_function()(source)
    return _run_export(export_for(source, backend, calibration), row, threads)
