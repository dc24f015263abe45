"""Deployment formats of a trained model: ONNX export (fp32 or int8) and the backends that run it.

``export_onnx`` writes an export folder; ``OnnxModel`` runs one with ONNX Runtime, ``OpenVinoModel`` with
OpenVINO; ``load_backend`` picks torch or either runtime behind the same inference surface. Imports are lazy:
``mtst.export.layout`` and ``mtst.export.backend`` load neither torch nor onnx until a model is loaded.

ONNX Runtime (1.32 on Linux) starts a telemetry client with its first session: it leaves a ``.ses`` file in
TMPDIR and would upload events. mtst runs offline and leaves nothing behind, so it is off unless the user
set ``ORT_DISABLE_TELEMETRY`` themselves.
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from mtst.export.backend import BACKENDS, load_backend  # noqa: E402

__all__ = ["BACKENDS", "load_backend"]
