"""Reading user data files (CSV, JSONL, Parquet) with errors that name the file, the row and the rule.

Users point ``params.yaml`` (and ``mtst validate / predict / embed``) at their own files; whatever bytes a
file holds, reading it gives rows or a ``DataFileError`` a person can act on — never a traceback, and never
a shape error deep inside training. What common tools write is accepted: Excel's CSV (a BOM, CRLF, quoted
cells spanning lines), JSON strings holding any Unicode (U+2028, U+0085, ... are text, not line breaks),
Parquet from pandas or pyarrow in any string layout (plain, large, view, dictionary / categorical, binary
holding UTF-8) with any encoding and codec.

Rows are counted as a person finds them: in CSV and JSONL the line a record starts on (the CSV header is
line 1), in Parquet the 1-based row. Files above ``limits.max_bytes()`` — and Parquet files whose needed
columns decode beyond it — are refused before they are read.

Memory follows the file's size, not what it claims to hold: text files are read a line at a time into their
columns, a Parquet footer is walked without building it, rows are kept as runs (``Rows``), and a table with more
cells than ``limits.max_cells`` allows for its file is refused (``benchmarks/reader_memory.py`` measures it).

One module per format (``csv_reader``, ``jsonl_reader``, ``parquet_reader``) and one for what they share
(``common``: the error, size checks, decoding, column picking); this package picks the reader by extension
and checks the required columns' values the same way for all three.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mtst.data import limits
from mtst.data.files.common import DataFileError, Rows, check_size, read_text
from mtst.data.files.csv_reader import read_csv
from mtst.data.files.jsonl_reader import read_jsonl
from mtst.data.files.parquet_reader import read_parquet

__all__ = ["FORMATS", "REQUIRED", "DataFileError", "Loaded", "Rows", "detect_format", "load", "read_table",
           "read_text"]

REQUIRED = ("text", "label")
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Loaded:
    """A file's rows, and for each the row it is found at in the file (``rows[i]`` for ``frame.iloc[i]``)."""

    frame: pd.DataFrame
    rows: Rows


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFileError(path, "format", f"unsupported extension {path.suffix!r}; use one of {sorted(FORMATS)}")
    return fmt


def read_table(path: str | Path, required: tuple[str, ...] = REQUIRED, *, optional: Iterable[str] | None = None,
               allow_nulls: bool = False, max_bytes: int | None = None) -> pd.DataFrame:
    """Read a user file into a frame with at least the ``required`` columns, all strings (see ``load``)."""
    return load(path, required, optional=optional, allow_nulls=allow_nulls, max_bytes=max_bytes).frame


def load(path: str | Path, required: tuple[str, ...] = REQUIRED, *, optional: Iterable[str] | None = None,
         allow_nulls: bool = False, max_bytes: int | None = None) -> Loaded:
    """Read a user file: the ``required`` columns (strings), and the ``optional`` ones the file has.

    ``optional=None`` reads every column; naming them reads only those (a Parquet file's other columns are
    never decoded). ``allow_nulls=True`` lets null values through (types are still checked), for callers
    that report every null with counts themselves (``mtst validate`` does, with Great Expectations).
    ``max_bytes`` overrides ``limits.max_bytes()`` (``MTST_MAX_FILE_BYTES``, or its default in ``mtst.environment``).
    """
    path = Path(path)
    try:
        found, regular = path.exists(), path.is_file()
    except (OSError, ValueError) as exc:  # a name too long or holding a NUL, a folder above that cannot be read
        raise DataFileError(path, "exists", f"cannot look the file up: {exc}") from None
    if not found:
        raise DataFileError(path, "exists", "file not found")
    fmt = detect_format(path)
    if not regular:
        raise DataFileError(path, "exists", "not a regular file (a folder, device or pipe)")
    limit = limits.max_bytes(max_bytes)
    wanted = None if optional is None else list(dict.fromkeys((*required, *optional)))
    if fmt == "parquet":
        check_size(path, limit)
        columns, rows = read_parquet(path, required, wanted, limit)
    else:
        reader = read_csv if fmt == "csv" else read_jsonl
        columns, rows = reader(path, required, wanted, limit)
    for column in required:
        _check_text(path, column, columns[column], rows, allow_nulls)
    series = {}
    for name in list(columns):  # a column at a time, each list freed once pandas holds its values
        values = columns.pop(name)
        series[name] = values if isinstance(values, pd.Series) else pd.Series(values)
    return Loaded(pd.DataFrame(series), rows)


def _check_text(path: Path, column: str, values: Any, rows: Rows, allow_nulls: bool) -> None:
    """Every value of a required column is a string (or, with ``allow_nulls``, null), else the first that is not
    is named by row. A ``str`` Series holds strings only, so only its nulls need a look."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        nulls = values.isna().to_numpy()
        if nulls.any() and not allow_nulls:
            raise DataFileError(path, "not_null", f"{column!r} is null", row=rows[int(nulls.argmax())])
        return
    for position, value in enumerate(values):
        if value is None:
            if allow_nulls:
                continue
            raise DataFileError(path, "not_null", f"{column!r} is null", row=rows[position])
        if not isinstance(value, str):
            raise DataFileError(path, "column_types", f"{column!r} is {type(value).__name__}, expected string",
                                row=rows[position])
