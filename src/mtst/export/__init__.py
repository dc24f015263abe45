"""Deployment formats of a trained model: ONNX export (fp32 or int8) and the backends that run it.

``export_onnx`` writes an export folder; ``OnnxModel`` runs one with ONNX Runtime; ``load_backend`` picks
torch or ONNX Runtime behind the same inference surface. Imports are lazy: ``mtst.export.layout`` and
``mtst.export.backend`` load neither torch nor onnx until a model is loaded.
"""

from mtst.export.backend import BACKENDS, load_backend

__all__ = ["BACKENDS", "load_backend"]
