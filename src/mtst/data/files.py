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
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mtst.data import limits
from mtst.data.parquet_footer import read_footer

REQUIRED = ("text", "label")
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # only a line holding one can decode to a lone surrogate
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")  # the unnamed index pandas stores; not a column of the data
_ENDINGS = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}

Columns = dict[str, list[Any] | pd.Series]  # name -> values, one per row


class DataFileError(ValueError):
    """Bad input: carries the file, the 1-based row (None for file-level problems) and the violated rule."""

    def __init__(self, path: str | Path, rule: str, detail: str, row: int | None = None) -> None:
        self.path, self.rule, self.detail, self.row = str(path), rule, detail, row
        where = f"{self.path}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: [{rule}] {detail}")


@dataclass
class Loaded:
    """A file's rows, and for each the row it is found at in the file (``rows[i]`` for ``frame.iloc[i]``)."""

    frame: pd.DataFrame
    rows: list[int]


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
    ``max_bytes`` overrides ``limits.max_bytes()`` (``MTST_MAX_FILE_BYTES`` or 1 GiB).
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
        _check_size(path, limit)
        columns, rows = _read_parquet(path, required, wanted, limit)
    else:
        reader = _read_csv if fmt == "csv" else _read_jsonl
        columns, rows = reader(path, read_text(path, max_bytes=limit), required, wanted, limit)
    for column in required:
        for position, value in enumerate(columns[column]):
            if value is None:
                if allow_nulls:
                    continue
                raise DataFileError(path, "not_null", f"{column!r} is null", row=rows[position])
            if not isinstance(value, str):
                raise DataFileError(path, "column_types", f"{column!r} is {type(value).__name__}, expected string",
                                    row=rows[position])
    return Loaded(pd.DataFrame(columns), rows)


def read_text(path: str | Path, *, max_bytes: int | None = None) -> str:
    """A UTF-8 text file's content (a leading BOM stripped), refused above the size limit before it is read;
    bytes that are not UTF-8 are named by row. For plain-text inputs too (one sentence a line)."""
    path = Path(path)
    limit = limits.max_bytes(max_bytes)
    _check_size(path, limit)
    return _decode(path, _read_bytes(path, limit))


def _check_size(path: Path, limit: int) -> None:
    size = path.stat().st_size
    if size > limit:
        raise DataFileError(path, "size", f"the file is {limits.human(size)}, over the limit of {limits.human(limit)}; "
                            f"set {limits.ENV_VAR} to raise it")
    if size == 0:
        raise DataFileError(path, "non_empty", "the file is empty")


def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)  # the file may have grown since it was measured
    except OSError as exc:
        raise DataFileError(path, "readable", f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise DataFileError(path, "size", f"the file is over the limit of {limits.human(limit)}; "
                            f"set {limits.ENV_VAR} to raise it")
    return raw


def _decode(path: Path, raw: bytes) -> str:
    for bom, encoding in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                          (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if raw.startswith(bom):
            raise DataFileError(path, "utf8", f"the file is {encoding} (it starts with a {encoding} byte-order mark); "
                                "save it as UTF-8", row=1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        raise DataFileError(path, "utf8", f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8; "
                            "save the file as UTF-8 (Excel: 'CSV UTF-8')", row=row) from None
    text = text.removeprefix("\ufeff")  # a BOM is tolerated and stripped, not fatal
    if not text.strip():
        raise DataFileError(path, "non_empty", "the file is empty")
    return text


def _show(names: list[str], limit: int = 20) -> str:
    """A list of column names for a message; a file with thousands of keys gets its first few."""
    if len(names) <= limit:
        return str(names)
    return f"{names[:limit]} and {len(names) - limit:,} more"


def _pick(path: Path, names: list[str], wanted: list[str] | None, row: int | None) -> list[str]:
    """The names to read: the wanted ones present (all named ones if ``wanted`` is None), each exactly once."""
    chosen = [n for n in names if n] if wanted is None else [n for n in wanted if n in names]
    for name in chosen:
        if names.count(name) > 1:
            raise DataFileError(path, "columns", f"column {name!r} appears {names.count(name)} times; names must be "
                                "unique", row=row)
    return chosen


# ---- CSV ---------------------------------------------------------------------------------------------------


class _Lines(Iterator[str]):
    """A text's physical lines (split at CR, LF and CRLF only — never at U+2028 and kin) for ``csv.reader``,
    remembering how the last one handed out ended: after a record, that is its terminator."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.ending = ""

    def __next__(self) -> str:
        line = next(self._lines)
        self.ending = next((e for e in ("\r\n", "\n", "\r") if line.endswith(e)), "")
        return line


def _read_csv(path: Path, text: str, required: tuple[str, ...], wanted: list[str] | None,
              limit: int) -> tuple[Columns, list[int]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(max(csv.field_size_limit(), min(limit, sys.maxsize)))  # a field may be as large as the file
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    picked: dict[str, int] = {}  # column name -> field index
    records: list[list[str]] = []
    rows: list[int] = []
    ending: str | None = None  # the first record's terminator, which every other must match
    first_row = 0
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataFileError(path, "csv_syntax", _csv_problem(str(exc), delimiter), row=start) from None
        if lines.ending:
            if ending is None:
                ending, first_row = lines.ending, start
            elif lines.ending != ending:
                raise DataFileError(path, "line_endings", f"mixed {_ENDINGS[ending]} and {_ENDINGS[lines.ending]} line "
                                    f"endings: this row ends with {_ENDINGS[lines.ending]}, row {first_row} with "
                                    f"{_ENDINGS[ending]}; normalise the file", row=start)
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # a blank line
        if header is None:
            header = record
            _check_header(path, header, required, delimiter, start)
            picked = {name: header.index(name) for name in _pick(path, header, wanted, start)}
            continue
        if len(record) != len(header):
            hint = f"; a field holding {delimiter!r} must be in double quotes" if len(record) > len(header) else ""
            raise DataFileError(path, "csv_syntax", f"expected {len(header)} fields (as in the header), found "
                                f"{len(record)}{hint}", row=start)
        records.append(record)
        rows.append(start)
    if not records:
        raise DataFileError(path, "non_empty", "the file has a header but no rows")
    return {name: [record[i] for record in records] for name, i in picked.items()}, rows


def _check_header(path: Path, header: list[str], required: tuple[str, ...], delimiter: str, row: int) -> None:
    missing = [c for c in required if c not in header]
    if not missing:
        return
    hint = ""
    line = delimiter.join(header)
    for other in (";", "\t", "|", ","):
        if other != delimiter and all(c in line.split(other) for c in required):
            hint = f" (the header looks {other!r}-delimited; expected {delimiter!r})"
    if "\x00" in line:
        hint = " (the header holds NUL bytes: the file may be UTF-16 without a byte-order mark; save it as UTF-8)"
    raise DataFileError(path, "columns", f"missing required column(s) {missing}; header is {_show(header)}{hint}",
                        row=row)


def _csv_problem(message: str, delimiter: str) -> str:
    if message == "unexpected end of data":
        return "a quoted field that starts in this row is never closed (the file ends inside double quotes)"
    if message.endswith("expected after '\"'"):
        return (f"{message}: a closing double quote must be followed by {delimiter!r} or the end of the line; "
                "write a quote inside a quoted field as two (\"\")")
    return message


# ---- JSONL -------------------------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        keys = [key for key, _ in pairs]
        raise _DuplicateKey(next(key for key in keys if keys.count(key) > 1))
    return record


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a parsed JSON value (keys included): not encodable as UTF-8, so not text.
    Walked with a stack, not recursion: the value may be nested as deeply as the JSON parser allowed."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if match := _SURROGATE.search(item):
                return match.group()
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return None


def _parse_line(path: Path, line: str, row: int) -> dict[str, Any]:
    try:
        record = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        detail = f"not valid JSON: {exc.msg} at column {exc.colno}"
        if line.strip() in ("{", "["):
            detail += " (JSON Lines hold one whole object per line; this looks like pretty-printed JSON)"
    except _DuplicateKey as exc:
        detail = f"the key {exc.args[0]!r} appears twice in one object"
    except RecursionError:
        detail = "not valid JSON here: nested too deeply"
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        detail = f"not valid JSON here: {exc}"
    else:
        if not isinstance(record, dict):
            raise DataFileError(path, "jsonl_syntax", f"expected a JSON object, got {type(record).__name__}", row=row)
        if _SURROGATE_ESCAPE.search(line) and (char := _lone_surrogate(record)):  # a "\udc80"-style escape
            raise DataFileError(path, "utf8", f"the line holds the lone surrogate \\u{ord(char):04x}, which is not "
                                "valid UTF-8", row=row)
        return record
    raise DataFileError(path, "jsonl_syntax", detail, row=row)


def _read_jsonl(path: Path, text: str, required: tuple[str, ...], wanted: list[str] | None,
                limit: int) -> tuple[Columns, list[int]]:
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    keys: dict[str, None] = {}
    for row, line in enumerate(text.split("\n"), start=1):  # JSON Lines end at LF (or CRLF) only
        if not line.strip(" \t\r"):
            continue
        record = _parse_line(path, line, row)
        if wanted is not None:
            record = {k: record[k] for k in wanted if k in record}
        keys.update(dict.fromkeys(record))
        records.append(record)
        rows.append(row)
    footprint = limits.table_footprint(len(records), len(keys), 0)
    if footprint > limit:
        raise DataFileError(path, "size", f"{len(records):,} rows with {len(keys):,} distinct keys make a table of at "
                            f"least {limits.human(footprint)}, over the limit of {limits.human(limit)}; set "
                            f"{limits.ENV_VAR} to raise it")
    missing = [c for c in required if c not in keys]
    if missing:
        raise DataFileError(path, "columns", f"missing required key(s) {missing}; keys are {_show(sorted(keys))}")
    return {key: [record.get(key) for record in records] for key in keys}, rows


# ---- Parquet -----------------------------------------------------------------------------------------------


def _is_text_type(arrow_type: Any) -> bool:
    """Types whose values are text, or bytes that should be UTF-8 text (binary columns pandas never writes)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return _is_text_type(arrow_type.value_type)
    return any(check(arrow_type) for check in (
        pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
        pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view, pa.types.is_null))


def _decoded_bytes(column: Any) -> int:
    """What a read column holds once dictionary-encoded values are expanded, before they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type) and _is_text_type(chunk.type.value_type) \
                and not pa.types.is_null(chunk.type.value_type):
            counts = pc.value_counts(chunk.indices.drop_null())  # one entry per distinct index, not per row
            lengths = pc.binary_length(chunk.dictionary).take(counts.field("values"))
            total += int(pc.sum(pc.multiply(lengths.cast(pa.int64()), counts.field("counts"))).as_py() or 0)
            total += chunk.indices.nbytes
        else:
            total += chunk.nbytes
    return total


def _texts(path: Path, name: str, chunks: list[Any]) -> list[str | None]:
    """A text column's values as ``str`` (None for nulls); bytes that are not UTF-8 are named by row."""
    import pyarrow as pa

    values: list[str | None] = []
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_decode()
        if pa.types.is_null(chunk.type):
            values.extend([None] * len(chunk))
            continue
        for raw in chunk.cast(pa.large_binary()).to_pylist():
            try:
                values.append(None if raw is None else raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise DataFileError(path, "utf8", f"{name!r}: byte 0x{raw[exc.start]:02x} at offset {exc.start} of the "
                                    "value is not valid UTF-8", row=len(values) + 1) from None
    return values


def _as_dictionary(encodings: set[str]) -> bool:
    """Read a text column stored with a dictionary as one, so that its expansion (a few bytes of indices can
    repeat a long value millions of times) is measured before it happens — unless a chunk uses a delta
    encoding, which pyarrow cannot read into a dictionary."""
    return bool(encodings & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}) and not any(e.startswith("DELTA") for e in encodings)


def _values(path: Path, name: str, chunks: list[Any]) -> pd.Series:
    """Another column's values, as pandas holds them (numbers, strings, dicts for structs, lists, datetimes)."""
    import pyarrow as pa

    column = pa.chunked_array(chunks)
    try:
        column.validate(full=True)  # pyarrow reads string bytes unchecked; pandas would fail on them later
    except pa.ArrowInvalid as exc:
        raise DataFileError(path, "utf8", f"column {name!r} ({column.type}): {exc}") from None
    try:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)  # plain values, as CSV and JSONL give
        return column.to_pandas()
    except Exception as exc:  # e.g. a date beyond what pandas can hold
        raise DataFileError(path, "column_types", f"column {name!r} ({column.type}) holds a value pandas cannot "
                            f"represent: {exc}") from None


def _read_parquet(path: Path, required: tuple[str, ...], wanted: list[str] | None,
                  limit: int) -> tuple[Columns, list[int]]:
    import pyarrow.parquet as pq

    try:
        footer = read_footer(path)
        with pq.ParquetFile(path) as parquet:
            schema = parquet.schema_arrow
    except Exception as exc:  # FooterError, or one of the several types pyarrow raises for corrupt files
        raise DataFileError(path, "parquet", f"cannot read as Parquet: {exc}") from None
    names = [n for n in schema.names if not _PANDAS_INDEX.fullmatch(n)]
    missing = [c for c in required if c not in names]
    if missing:
        raise DataFileError(path, "columns", f"missing required column(s) {missing}; columns are {_show(names)}")
    chosen = _pick(path, names, wanted, None)
    for column in required:
        arrow_type = schema.field(column).type
        if not _is_text_type(arrow_type):
            raise DataFileError(path, "column_types", f"column {column!r} has type {arrow_type}; expected string")
    footprint = limits.table_footprint(footer.num_rows, len(chosen), footer.decoded_bytes(chosen))
    if footprint > limit:
        raise DataFileError(path, "size", f"by its metadata, the {footer.num_rows:,} rows of column(s) {_show(chosen)} "
                            f"decode to at least {limits.human(footprint)}, over the limit of {limits.human(limit)}; "
                            f"set {limits.ENV_VAR} to raise it")
    dictionary = [n for n in chosen if _is_text_type(schema.field(n).type) and _as_dictionary(footer.encodings(n))]
    chunks: dict[str, list[Any]] = {name: [] for name in chosen}
    try:
        with pq.ParquetFile(path, read_dictionary=dictionary) as parquet:
            decoded = 0
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group, columns=chosen, use_threads=False)
                decoded += sum(_decoded_bytes(column) for column in table.columns)
                if decoded > limit:
                    raise DataFileError(path, "size", f"the columns {_show(chosen)} decode to more than the limit of "
                                        f"{limits.human(limit)} (by row group {group}); set {limits.ENV_VAR} to raise it")
                for name, column in zip(chosen, table.columns):
                    chunks[name] += column.chunks
    except DataFileError:
        raise
    except Exception as exc:  # corrupt pages, bad codecs, a footer that lies
        raise DataFileError(path, "parquet", f"cannot read as Parquet: {exc}") from None
    rows = list(range(1, sum(len(chunk) for chunk in chunks[chosen[0]]) + 1))
    if not rows:
        raise DataFileError(path, "non_empty", "the file has no rows")
    return {name: _texts(path, name, parts) if name in required else _values(path, name, parts)
            for name, parts in chunks.items()}, rows
