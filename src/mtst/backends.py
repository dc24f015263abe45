"""What can run a model, one row per backend: its name, the export it runs, the runtime, the precision it
computes in, and how it is loaded. ``BackendName`` (what ``params.yaml``'s ``evaluate.backend`` and
``compare.serving_backends`` validate against), the lists and the lookups all derive from ``TABLE``, so adding a
backend is one row here plus its loader.

Its own module, importing nothing of mtst and no runtime: the params sections import it, and the export
package builds on those sections. A row names its loader by a dotted reference, resolved on first use, so
importing this module never imports onnxruntime or OpenVINO.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Backend:
    name: str
    export: str | None
    """The export it runs: ``fp32`` (ONNX), ``int8`` (ONNX Runtime's dynamic quantisation of it, ONNX) or
    ``nncf-int8`` (NNCF's static quantisation of it, an OpenVINO IR); None: the saved torch folder itself."""
    runtime: str
    """The package that runs it (what a pyfunc served by it must install besides torch)."""
    precision: str
    """What it computes in."""
    loader: str
    """``module:attribute`` of what loads it: called with the saved model folder for torch, else with the
    export folder, the thread count and ``options``."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments the loader takes for this backend."""
    export_command: str | None = None
    """The ``mtst export`` options that make the export it runs (for error messages)."""

    def load_function(self) -> Callable[..., Any]:
        """The loader, imported now (the runtime comes with it)."""
        module, _, attribute = self.loader.partition(":")
        target: Any = importlib.import_module(module)
        for part in attribute.split("."):
            target = getattr(target, part)
        return target


_ONNX = "mtst.export.onnx_model:OnnxModel.load"
_OPENVINO = "mtst.export.openvino_model:OpenVinoModel.load"

TABLE: tuple[Backend, ...] = (
    Backend("torch", None, "torch", "fp32", "mtst.model:MultiTaskSentenceTransformer.load"),
    Backend("onnx", "fp32", "onnxruntime", "fp32", _ONNX, export_command="--format onnx"),
    Backend("onnx-int8", "int8", "onnxruntime", "int8 weights, activations quantised per batch", _ONNX,
            export_command="--format onnx --int8"),
    Backend("openvino", "fp32", "openvino", "fp32", _OPENVINO, export_command="--format onnx"),
    Backend("openvino-bf16", "fp32", "openvino", "bf16 where the CPU has bf16 instructions (AVX512-BF16 or AMX), "
            "else fp32", _OPENVINO, options={"bf16": True}, export_command="--format onnx"),
    Backend("openvino-int8", "nncf-int8", "openvino", "int8 weights and activations, ranges calibrated on "
            "sentences of the user's data", _OPENVINO, export_command="--format openvino --int8 --calibration FILE"),
)
"""OpenVINO reads the fp32 graph (fused ONNX Runtime operators included) and lowers it to bf16 itself; its int8
graph is NNCF's quantisation of that fp32 graph."""

BACKENDS: tuple[str, ...] = tuple(b.name for b in TABLE)
BackendName = Literal[BACKENDS]  # type: ignore[valid-type]
"""What runs a model: one of :data:`BACKENDS`."""

_BY_NAME = {b.name: b for b in TABLE}


def backend_named(name: str) -> Backend:
    """The row of backend ``name``; an unknown name is a ``ValueError`` that lists the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}") from None


def backends_of(export: str) -> list[str]:
    """The backends an export (``fp32``, ``int8`` or ``nncf-int8``) answers for."""
    return [b.name for b in TABLE if b.export == export]


def backend_running(runtime: str, export: str, **options: Any) -> str:
    """The name of what ``runtime`` runs when it loads an ``export`` with ``options`` (a loaded model's
    ``backend``): the row whose options all hold, the most specific if several do."""
    rows = [b for b in TABLE if b.runtime == runtime and b.export == export
            and all(options.get(key, False) == value for key, value in b.options.items())]
    if not rows:
        raise ValueError(f"no backend runs a {export} export on {runtime} with {options}")
    return max(rows, key=lambda b: len(b.options)).name
