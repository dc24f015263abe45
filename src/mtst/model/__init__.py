"""The multi-task sentence transformer: a shared encoder, mean pooling, and one head per task."""

from mtst.model.multitask import MultiTaskSentenceTransformer

__all__ = ["MultiTaskSentenceTransformer"]
