"""``OpenVinoModel``: the fp32 ONNX export run by OpenVINO on CPU, computing in fp32 (backend ``openvino``) or
in bf16 (``openvino-bf16``), or NNCF's int8 graph of it (``openvino-int8``: ``mtst.export.openvino_int8``), with
``OnnxModel``'s inference surface and batching.

Why OpenVINO: on an Intel CPU with AMX, torch's fp32 kernels outrun ONNX Runtime's, and ONNX Runtime's int8
loses more quality on Task B than its speed is worth; OpenVINO reads the same graph (ONNX Runtime's fused
``Attention`` / ``SkipLayerNormalization`` included), at least matches torch in fp32 and, in bf16 on AMX, runs
several times faster with far fewer changed predictions than int8. Figures: ``benchmarks/onnx_inference.py``'s
report (docs/serving.md).

Precision: the encoder graph computes in ``bf16`` only where the CPU has bf16 instructions (AVX512-BF16 or AMX,
``mtst.cpu.has_bf16``); elsewhere a bf16 request compiles in fp32 and the model *is* the ``openvino`` backend:
its :attr:`OpenVinoModel.backend` and :attr:`~OpenVinoModel.precision` name what runs, so an evaluation, the
serving table and the registry record ``openvino``, never a bf16 that did not happen. The heads graph stays fp32
(as in the int8 export), so embeddings → probabilities are the fp32 heads' for every backend.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mtst.cpu import describe, has_bf16
from mtst.export.onnx_model import OnnxModel

log = logging.getLogger(__name__)


@functools.cache
def _core() -> Any:
    import openvino as ov

    return ov.Core()


class _Compiled:
    """A graph compiled for the CPU, with ONNX Runtime's ``run(output names, inputs)``: one infer request per
    thread (a request is not safe to share), outputs copied out of OpenVINO's reused buffers."""

    def __init__(self, graph: Path, threads: int, precision: str) -> None:
        core = _core()
        self.compiled = core.compile_model(core.read_model(str(graph)), "CPU", {
            "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"})
        self.precision: str = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()  # bf16 or f32
        self._requests = threading.local()

    def run(self, outputs: list[str], inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        results = request.infer(inputs)
        return [np.array(results[self.compiled.output(name)], copy=True) for name in outputs]


class OpenVinoModel(OnnxModel):
    """The export folder's graph (``model.onnx``, or an int8 export's ``model.xml``) and ``heads.onnx`` compiled
    by OpenVINO; ``bf16`` asks for bf16 compute in the encoder (an int8 graph keeps fp32 where it is not int8).
    Load an export folder with :meth:`load` (``OpenVinoModel.load(folder, bf16=True)``)."""

    runtime = "openvino"

    def __init__(self, model_file: str | Path, heads_file: str | Path, tokenizer: Any, config: dict[str, Any],
                 threads: int | None = None, bf16: bool = False) -> None:
        if bf16 and not has_bf16():
            log.warning("openvino-bf16 runs as openvino (fp32) here: this CPU has no bf16 instructions (%s)",
                        describe())
            bf16 = False
        self.requested_precision = "bf16" if bf16 else "f32"
        super().__init__(model_file, heads_file, tokenizer, config, threads)
        self.precision: str = self.session.precision

    def backend_options(self) -> dict[str, Any]:
        return {"bf16": self.requested_precision == "bf16"}

    def int8_kernels(self) -> list[str]:
        """The oneDNN kernels that ran the encoder's int8 MatMuls (after a first inference; [] for an fp32
        graph): ``brgemm_avx512*`` / ``*amx*`` accumulate in 32 bits (VNNI, AMX), ``jit_gemm`` is the AVX2 path
        whose 16-bit intermediates the 7-bit weights keep from saturating (``mtst.cpu``)."""
        kernels = set()
        for op in self.session.compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            if info["layerType"].astype(str) in ("FullyConnected", "MatMul") \
                    and info["runtimePrecision"].astype(str) in ("u8", "i8"):
                kernels.add(info["primitiveType"].astype(str))
        return sorted(kernels)

    def _session(self, graph: Path, heads: bool) -> _Compiled:
        return _Compiled(graph, self.threads, "f32" if heads else self.requested_precision)
