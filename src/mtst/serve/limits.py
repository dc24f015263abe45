"""What a request may hold, checked before any model work: the texts of one request, or a refusal that names
the field and the rule.

Why here and not in the model: MLServer's adaptive batching merges requests into one model call, and a call
that fails fails every request merged into it. So the runtime checks each request as it arrives, before it joins
a batch (``mtst.serve.runtime``), and a batch holds only requests that passed: a malformed request gets its own
4xx at once and no other client sees it. The body's size is capped before it is read (``mtst.serve.body``).

Import-light (no MLServer): a request's inputs are read by their v2 attributes (``name``, ``datatype``,
``shape``, ``data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

INPUT = "text"
"""The one input tensor: ``BYTES``, shape ``[n]`` (or ``[n, 1]``), ``n`` non-empty strings."""

TOO_LARGE, MALFORMED = 413, 422


SETTINGS = {"max_rows": "serve.max_rows", "max_chars": "validate.max_chars", "max_body_bytes": "serve.max_body_bytes"}
"""Each cap and the params.yaml key that sets it: ``mtst.serve.settings`` reads the caps from these keys, and a
refusal names the key, so it says what to change."""


@dataclass(frozen=True)
class Limits:
    """The caps (see :data:`SETTINGS`)."""

    max_rows: int
    max_chars: int
    max_body_bytes: int


class RequestRefused(ValueError):
    """A request the server does not run: ``status`` (413 over a cap, 422 malformed), ``field`` and ``rule``."""

    def __init__(self, status: int, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.status, self.field, self.rule = status, field, rule


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _the_input(inputs: Sequence[Any]) -> Any:
    names = [getattr(i, "name", None) for i in inputs]
    if names.count(INPUT) != 1 or len(names) != 1:
        raise RequestRefused(MALFORMED, "inputs", f"must be exactly one tensor named {INPUT!r} (BYTES, shape [n]); "
                                                  f"got {names}")
    return inputs[0]


def _rows(shape: Any, field: str, limits: Limits) -> int:
    if not (isinstance(shape, list) and all(isinstance(d, int) for d in shape)
            and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))):
        raise RequestRefused(MALFORMED, f"{field}.shape", f"must be [n] or [n, 1] (n texts); got {shape}")
    rows = shape[0]
    if rows < 1:
        raise RequestRefused(MALFORMED, f"{field}.shape", f"must hold at least one text; got {shape}")
    if rows > limits.max_rows:
        raise RequestRefused(TOO_LARGE, f"{field}.shape", f"{rows} texts, above the limit of {limits.max_rows} "
                                                          f"per request ({SETTINGS['max_rows']})")
    return rows


def _text(value: Any, field: str, limits: Limits) -> str:
    if isinstance(value, bytes):  # gRPC carries BYTES as bytes; REST's JSON as strings
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestRefused(MALFORMED, field, "is not UTF-8 text") from None
    if not isinstance(value, str):
        raise RequestRefused(MALFORMED, field, f"is {_kind(value)}; every text must be a non-empty string")
    if not value.strip():
        raise RequestRefused(MALFORMED, field, "is empty; every text must be a non-empty string")
    if len(value) > limits.max_chars:
        raise RequestRefused(TOO_LARGE, field, f"{len(value)} characters, above the limit of {limits.max_chars} "
                                               f"({SETTINGS['max_chars']})")
    return value


def texts_of(inputs: Sequence[Any], limits: Limits) -> list[str]:
    """The texts of a request's ``inputs``; :class:`RequestRefused` at the first thing that breaks a rule."""
    tensor = _the_input(inputs)
    field = f"inputs[{INPUT}]"
    datatype = getattr(tensor.datatype, "value", tensor.datatype)
    if datatype != "BYTES":
        raise RequestRefused(MALFORMED, f"{field}.datatype", f"must be BYTES (strings); got {datatype}")
    rows = _rows(tensor.shape, field, limits)
    data = getattr(tensor.data, "root", tensor.data)
    if not isinstance(data, list):
        raise RequestRefused(MALFORMED, f"{field}.data", f"must be a list of {rows} strings; got {_kind(data)}")
    if len(data) != rows:
        raise RequestRefused(MALFORMED, f"{field}.data", f"holds {len(data)} values; the shape says {rows}")
    return [_text(value, f"{field}.data[{i}]", limits) for i, value in enumerate(data)]
