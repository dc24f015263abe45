"""mtst: a multi-task sentence transformer (topic + sentiment) and the pipeline that trains, evaluates and tracks it."""

__version__ = "0.1.0"
