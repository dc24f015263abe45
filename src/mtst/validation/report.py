"""Validation outcomes: one ``Failure`` per failed expectation, the ``ValidationFailed`` error and its summary.

Kept free of Great Expectations imports so ``mtst.errors`` (imported by every CLI command) stays fast.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Failure:
    """A failed expectation: where (file), which rule, which GX expectation, how many rows, a few examples."""

    file: str
    rule: str
    expectation: str
    severity: str  # "critical" fails the run; "warning" is reported only
    count: int | None
    total: int | None
    rows: list[str] = field(default_factory=list)
    detail: str = ""

    def line(self) -> str:
        how_many = ""
        if self.count is not None:
            how_many = f": {self.count}" + (f" of {self.total}" if self.total is not None else "") + " rows"
        text = f"{self.file}: [{self.rule}] {self.expectation}{how_many}"
        if self.detail:
            text += f" — {self.detail}"
        for row in self.rows:
            text += f"\n      {row}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(failures: list[Failure], where: str | None = None) -> str:
    critical = [f for f in failures if f.severity == "critical"]
    files = sorted({f.file for f in critical})
    head = f"validation failed: {len(critical)} failed expectation(s) in {len(files)} file(s)"
    body = "\n".join("  " + f.line() for f in critical)
    tail = f"\nReport and Data Docs of this failed run: {where}" if where else ""
    return f"{head}\n{body}{tail}"


class ValidationFailed(ValueError):
    """Data broke a critical expectation. The message is the summary; ``failures`` holds the details."""

    def __init__(self, failures: list[Failure], where: str | None = None) -> None:
        self.failures = failures
        self.where = where
        super().__init__(summarise(failures, where))

    @property
    def rules(self) -> set[str]:
        return {f.rule for f in self.failures if f.severity == "critical"}


def label_hint(unexpected: list[str], labels: list[str]) -> str:
    """``did you mean 'positive' for 'postive'?`` for near-miss labels; empty when nothing is close."""
    hints = []
    for value in unexpected:
        close = difflib.get_close_matches(str(value), labels, n=1, cutoff=0.75)
        if close:
            hints.append(f"did you mean {close[0]!r} for {value!r}?")
    return " ".join(hints)


def show(value: Any, width: int = 80) -> str:
    """A short, unambiguous rendering of an offending value (repr, so whitespace and BOMs are visible)."""
    import pandas as pd

    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):  # None, NaN, pd.NA
        return "null"
    text = repr(value)
    if len(text) > width:
        extra = f"… ({len(value):,} chars)" if isinstance(value, str) else "…"
        text = text[:width] + extra
    return text
