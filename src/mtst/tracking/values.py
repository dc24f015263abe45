"""Keys and values as MLflow accepts them: allowed key characters, params as flat strings of bounded length,
finite numbers only as metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from mtst.evaluation.flatten import flatten

MAX_PARAM_LEN = 6000  # MLflow's limit on a param value (longer values are refused, so they are cut)


def metric_key(key: str) -> str:
    """MLflow keys allow letters, digits and ``_ - . / :`` and spaces; anything else becomes ``_``."""
    return "".join(c if c.isalnum() or c in "_-./: " else "_" for c in key)


def param_items(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested params to ``a.b.c`` keys with string values (lists as JSON), as MLflow stores them."""
    out = {}
    for key, value in flatten(params, prefix).items():
        text = json.dumps(value, sort_keys=True) if isinstance(value, (list, tuple, dict)) else str(value)
        out[metric_key(key)] = text[:MAX_PARAM_LEN]
    return out


def numeric(value: Any) -> bool:
    """A value MLflow can store as a metric: a finite int or float (a bool is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
