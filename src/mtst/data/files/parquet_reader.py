"""Parquet files from pandas or pyarrow, in any string layout (plain, large, view, dictionary / categorical,
binary holding UTF-8) with any encoding and codec; a record's row is its 1-based position.

The size limit is checked three times, each before the work it guards: on the file, on what the footer says
the needed columns decode to (mtst.data.parquet_footer), and row group by row group as they are read, with
dictionary-encoded text measured before it is expanded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from mtst.data import limits
from mtst.data.files.columns import text_series
from mtst.data.files.common import Columns, DataFileError, Rows, check_cells, pick, show
from mtst.data.parquet_footer import read_footer

_PANDAS_INDEX = re.compile(r"__index_level_\d+__")  # the unnamed index pandas stores; not a column of the data
_COLUMN_BATCH = 64
"""Columns read from a row group at once: pyarrow's reader holds buffers per column being read, tens of kilobytes
each, so a file of thousands of columns read in one call costs many times what its values take."""


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


def _texts(path: Path, name: str, chunk: Any, start: int) -> Any:
    """A text chunk as an arrow ``large_string`` array (the chunk's first row being ``start`` + 1), checked to be
    UTF-8 in arrow — no Python object per value; bytes that are not UTF-8 are named by row."""
    import pyarrow as pa

    if pa.types.is_dictionary(chunk.type):
        chunk = chunk.dictionary_decode()  # its expansion was measured before (_decoded_bytes)
    if pa.types.is_null(chunk.type):
        return pa.nulls(len(chunk), pa.large_string())
    try:
        text = chunk.cast(pa.large_string())  # checks that binary is UTF-8
        text.validate(full=True)  # pyarrow reads a string column's bytes unchecked
        return text
    except pa.ArrowInvalid:
        for position, raw in enumerate(chunk.cast(pa.large_binary())):  # which row: only on this error path
            value = raw.as_py() or b""
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFileError(path, "utf8", f"{name!r}: byte 0x{value[exc.start]:02x} at offset {exc.start} of "
                                    "the value is not valid UTF-8", row=start + position + 1) from None
        raise


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


def read_parquet(path: Path, required: tuple[str, ...], wanted: list[str] | None,
                  limit: int) -> tuple[Columns, Rows]:
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
        raise DataFileError(path, "columns", f"missing required column(s) {missing}; columns are {show(names)}")
    chosen = pick(path, names, wanted, None)
    for column in required:
        arrow_type = schema.field(column).type
        if not _is_text_type(arrow_type):
            raise DataFileError(path, "column_types", f"column {column!r} has type {arrow_type}; expected string")
    check_cells(path, path.stat().st_size, footer.num_rows, len(chosen),
                f"by its metadata, the rows of column(s) {show(chosen)}")
    footprint = limits.table_footprint(footer.num_rows, len(chosen), footer.decoded_bytes(chosen))
    if footprint > limit:
        raise DataFileError(path, "size", f"by its metadata, the {footer.num_rows:,} rows of column(s) {show(chosen)} "
                            f"decode to at least {limits.human(footprint)}, over the limit of {limits.human(limit)}; "
                            f"set {limits.ENV_VAR} to raise it")
    dictionary = [n for n in chosen if _is_text_type(schema.field(n).type) and _as_dictionary(footer.encodings(n))]
    parts: dict[str, list[Any]] = {name: [] for name in chosen}  # arrow chunks (text: checked, as large_string)
    count = 0
    try:
        with pq.ParquetFile(path, read_dictionary=dictionary) as parquet:
            decoded = 0
            for group in range(parquet.num_row_groups):
                for first in range(0, len(chosen), _COLUMN_BATCH):
                    names = chosen[first:first + _COLUMN_BATCH]
                    table = parquet.read_row_group(group, columns=names, use_threads=False)
                    decoded += sum(_decoded_bytes(column) for column in table.columns)
                    if decoded > limit:
                        raise DataFileError(path, "size", f"the columns {show(chosen)} decode to more than the limit "
                                            f"of {limits.human(limit)} (by row group {group}); set {limits.ENV_VAR} to "
                                            "raise it")
                    for name, column in zip(names, table.columns):
                        if name in required:  # checked now, so that a file that is not UTF-8 stops early
                            offset = count
                            for chunk in column.chunks:
                                parts[name].append(_texts(path, name, chunk, offset))
                                offset += len(chunk)
                        else:
                            parts[name] += column.chunks
                    rows_read = table.num_rows
                    del table  # its text is checked and held in parts: the row group's buffers can go
                count += rows_read
    except DataFileError:
        raise
    except Exception as exc:  # corrupt pages, bad codecs, a footer that lies
        raise DataFileError(path, "parquet", f"cannot read as Parquet: {exc}") from None
    if not count:
        raise DataFileError(path, "non_empty", "the file has no rows")
    columns: Columns = {}
    for name in chosen:
        values = parts.pop(name)
        columns[name] = text_series(values, count) if name in required else _values(path, name, values)
    return columns, Rows.span(count)
