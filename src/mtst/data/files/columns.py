"""A table's columns gathered row by row without holding a Python object per value until the end.

Why: a Python ``str`` costs some 50 bytes beyond its characters and its list slot 8 more, so a short CSV cell
would cost ten times its bytes on disk by the time the table is complete. Values are appended to plain lists
(fast), and every ``BATCH_CELLS`` cells the lists of the columns that hold only text or nulls move into arrow
(``large_string``: the characters and 8 bytes a value), which pandas then holds as its ``str`` dtype — the dtype
it gives a list of strings — without a second copy as objects. A column with any other value (a number, a
nested JSON value) stays Python objects, as pandas holds those anyway.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

BATCH_CELLS = 1 << 18
"""Cells gathered between moves into arrow: large enough that arrow's per-array cost is nothing, small enough
that the Python objects waiting never cost much."""


def text_series(chunks: list[pa.Array], length: int) -> pd.Series | list[None]:
    """Text chunks as pandas holds a list of the same strings; all nulls stay ``None`` objects, as for a list."""
    if sum(chunk.null_count for chunk in chunks) == length:
        return [None] * length
    return pa.chunked_array(chunks, pa.large_string()).to_pandas()


class Gathered:
    """Columns gathered row by row: ``values[name]`` takes the next value of each row; ``flush`` now and then."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {}  # the values since the column's last move into arrow
        self._chunks: dict[str, list[pa.Array]] = {}
        self._moved: dict[str, int] = {}  # values moved into the chunks
        self._objects: set[str] = set()  # columns with a value that is not text: kept as Python objects

    def add(self, name: str, rows: int) -> list[Any]:
        """A new column, null in the ``rows`` rows before it appeared; returns its list to append to."""
        self._chunks[name] = [pa.nulls(rows, pa.large_string())] if rows else []
        self._moved[name] = rows
        values = self.values[name] = []
        return values

    def length(self, name: str) -> int:
        return self._moved[name] + len(self.values[name])

    def flush(self) -> None:
        """Move the text columns' waiting values into arrow."""
        for name, values in self.values.items():
            if name in self._objects or not values:
                continue
            if all(value is None or type(value) is str for value in values):
                self._chunks[name].append(pa.array(values, pa.large_string()))
                self._moved[name] += len(values)
                values.clear()
            else:
                self._objects.add(name)

    def columns(self) -> dict[str, pd.Series | list[Any]]:
        """Every column: a ``str`` Series where it held only text (and nulls), else its values as a list."""
        self.flush()
        out: dict[str, pd.Series | list[Any]] = {}
        for name in list(self.values):
            chunks, waiting = self._chunks.pop(name), self.values.pop(name)
            if name in self._objects:
                out[name] = [value for chunk in chunks for value in chunk.to_pylist()] + waiting
            else:
                out[name] = text_series(chunks, self._moved[name])
        return out
