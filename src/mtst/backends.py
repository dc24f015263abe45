"""The names of what can run a model, and which ONNX export each one runs. Its own module, importing nothing
of mtst, because ``params.yaml``'s sections (``evaluate.backend``, ``compare.serving_backends``) validate against
these names and the export package builds on those sections."""

from __future__ import annotations

from typing import Literal, get_args

BackendName = Literal["torch", "onnx", "onnx-int8", "openvino", "openvino-bf16", "openvino-int8"]
"""What runs a model: torch on the saved folder; ONNX Runtime on the fp32 export (``onnx``) or the int8 one
(``onnx-int8``); OpenVINO on the fp32 export, computing in fp32 (``openvino``) or in bf16 where the CPU has
bf16 instructions (``openvino-bf16``; AVX512-BF16 or AMX), or on NNCF's int8 graph (``openvino-int8``: int8
weights and activations, ranges calibrated on sentences of the user's data)."""

BACKENDS: tuple[str, ...] = get_args(BackendName)

EXPORT_OF: dict[str, str] = {"onnx": "fp32", "onnx-int8": "int8", "openvino": "fp32", "openvino-bf16": "fp32",
                             "openvino-int8": "nncf-int8"}
"""The export each non-torch backend runs: OpenVINO reads the fp32 graph (fused ONNX Runtime operators
included) and lowers it to bf16 itself; its int8 graph (``nncf-int8``) is NNCF's quantisation of that fp32
graph, an OpenVINO IR."""

RUNTIME_OF: dict[str, str] = {"onnx": "onnxruntime", "onnx-int8": "onnxruntime", "openvino": "openvino",
                              "openvino-bf16": "openvino", "openvino-int8": "openvino"}
"""The package each non-torch backend runs the export with (what a pyfunc served by it must install)."""


def backends_of(export: str) -> list[str]:
    """The backends an export (``fp32``, ``int8`` or ``nncf-int8``) answers for."""
    return [name for name, made in EXPORT_OF.items() if made == export]
