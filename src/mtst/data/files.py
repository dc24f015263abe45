"""Reading user data files (CSV, JSONL, Parquet) with errors that name the file, the row and the rule.

Users point ``params.yaml`` at their own files; anything malformed must stop the pipeline here with a
message a person can act on, rather than surface later as a shape error deep inside training.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd

REQUIRED = ("text", "label")
_SURROGATE = re.compile("[\ud800-\udfff]")
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


class DataFileError(ValueError):
    """Bad input: carries the file, the 1-based row (None for file-level problems) and the violated rule."""

    def __init__(self, path: str | Path, rule: str, detail: str, row: int | None = None) -> None:
        self.path, self.rule, self.detail, self.row = str(path), rule, detail, row
        where = f"{self.path}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: [{rule}] {detail}")


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFileError(path, "format", f"unsupported extension {path.suffix!r}; use one of {sorted(FORMATS)}")
    return fmt


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFileError(path, "non_empty", "the file is empty")
    for bom, encoding in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                          (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if raw.startswith(bom):
            raise DataFileError(path, "utf8", f"the file is {encoding} (it starts with a {encoding} byte-order mark); "
                                "save it as UTF-8", row=1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(path, "utf8", f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
                            row=row) from None
    return text.removeprefix("\ufeff")  # a BOM is tolerated and stripped, not fatal


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    text = _decode(path)
    if "\r\n" in text and "\n" in text.replace("\r\n", ""):
        raise DataFileError(path, "line_endings", "mixed CRLF and LF line endings; normalise the file")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    header = next(csv.reader([text.splitlines()[0]], delimiter=delimiter), [])
    missing = [c for c in required if c not in header]
    if missing:
        hint = ""
        for other in (";", "\t", "|"):
            if other != delimiter and all(c in text.splitlines()[0].split(other) for c in required):
                hint = f" (the header looks {other!r}-delimited; expected {delimiter!r})"
        raise DataFileError(path, "columns", f"missing required column(s) {missing}; header is {header}{hint}", row=1)
    try:
        frame = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise DataFileError(path, "csv_syntax", str(exc).strip(), row=int(line.group(1)) if line else None) from None
    if frame.empty:
        raise DataFileError(path, "non_empty", "the file has a header but no rows")
    return frame


def _read_jsonl(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    records = []
    for lineno, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(path, "jsonl_syntax", f"not valid JSON: {exc.msg} at column {exc.colno}", row=lineno) from None
        if not isinstance(record, dict):
            raise DataFileError(path, "jsonl_syntax", f"expected a JSON object, got {type(record).__name__}", row=lineno)
        bad = next((k for k, v in record.items() if isinstance(v, str) and _SURROGATE.search(v)), None)
        if bad is not None:  # a "\udc80"-style escape decodes to a lone surrogate, which is not encodable as UTF-8
            char = _SURROGATE.search(record[bad]).group()  # type: ignore[union-attr]
            raise DataFileError(path, "utf8", f"{bad!r} holds the lone surrogate \\u{ord(char):04x}, which is not valid "
                                "UTF-8", row=lineno)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFileError(path, "columns", f"missing required key(s) {missing}; keys are {sorted(frame.columns)}")
    return frame


def _read_parquet(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataFileError(path, "parquet", f"cannot read as Parquet: {exc}") from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise DataFileError(path, "columns", f"missing required column(s) {missing}; columns are {table.column_names}")
    for column in required:
        dtype = table.schema.field(column).type
        if str(dtype) not in ("string", "large_string"):
            raise DataFileError(path, "column_types", f"column {column!r} has type {dtype}; expected string")
    return table.to_pandas()


def read_table(path: str | Path, required: tuple[str, ...] = REQUIRED, *, allow_nulls: bool = False) -> pd.DataFrame:
    """Read a user file into a frame with at least the ``required`` columns, all strings.

    ``allow_nulls=True`` lets null values through (types are still checked), for callers that report every
    null with counts themselves (``mtst validate`` does, with Great Expectations).
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "exists", "file not found")
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[detect_format(path)]
    frame = reader(path, required)
    for column in required:
        for index, value in frame[column].items():
            if value is None or (isinstance(value, float) and value != value):
                if allow_nulls:
                    continue
                raise DataFileError(path, "not_null", f"{column!r} is null", row=_row(frame, index, path))
            if not isinstance(value, str):
                raise DataFileError(path, "column_types", f"{column!r} is {type(value).__name__}, expected string",
                                    row=_row(frame, index, path))
    return frame.reset_index(drop=True)


def _row(frame: pd.DataFrame, index: object, path: Path) -> int:
    """1-based data row as a person counts it in the file (CSV: +1 for the header line)."""
    position = int(frame.index.get_loc(index)) + 1
    return position + 1 if detect_format(path) == "csv" else position
