"""Nested dicts to dotted keys (``{"a": {"b": 1}}`` → ``{"a.b": 1}``), for metrics files and MLflow params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten(nested: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Lists of scalars stay values; lists of mappings get indices (``stages.0.lr``)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name, sep))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                out.update(flatten(item, f"{name}{sep}{i}", sep))
        else:
            out[name] = value
    return out
