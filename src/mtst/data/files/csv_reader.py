"""CSV and TSV files as Excel and other common tools write them: a header row, then one record per row.

A BOM, CRLF line endings and quoted cells spanning lines are accepted; lines split at CR, LF and CRLF only
(U+2028 and kin are text), a file mixing line endings is refused, and a record's row is the line it starts
on (the header is line 1).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from mtst.data.files.columns import BATCH_CELLS, Gathered
from mtst.data.files.common import Columns, DataFileError, Rows, lines, pick, show

_ENDINGS = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}


class _Lines(Iterator[str]):
    """A file's physical lines (split at CR, LF and CRLF only — never at U+2028 and kin) for ``csv.reader``,
    remembering how the last one handed out ended: after a record, that is its terminator."""

    def __init__(self, path: Path, limit: int) -> None:
        self._lines = lines(path, limit, cr=True)
        self.ending = ""

    def __next__(self) -> str:
        line = next(self._lines)
        self.ending = next((e for e in ("\r\n", "\n", "\r") if line.endswith(e)), "")
        return line


def read_csv(path: Path, required: tuple[str, ...], wanted: list[str] | None,
             limit: int) -> tuple[Columns, Rows]:
    """The picked columns' values and each record's row, a line at a time: only the picked fields are kept. (Every
    cell takes a byte on disk at least, so the table never has more cells than ``limits.max_cells`` allows.)"""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(max(csv.field_size_limit(), min(limit, sys.maxsize)))  # a field may be as large as the file
    physical = _Lines(path, limit)
    reader = csv.reader(physical, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    gathered = Gathered()
    picked: list[tuple[list[str], int]] = []  # (the column's values, its field index)
    batch = 0  # records between moves into arrow
    rows = Rows()
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
        if physical.ending:
            if ending is None:
                ending, first_row = physical.ending, start
            elif physical.ending != ending:
                raise DataFileError(path, "line_endings", f"mixed {_ENDINGS[ending]} and {_ENDINGS[physical.ending]} "
                                    f"line endings: this row ends with {_ENDINGS[physical.ending]}, row {first_row} "
                                    f"with {_ENDINGS[ending]}; normalise the file", row=start)
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # a blank line
        if header is None:
            if not "".join(record).strip():
                continue  # only delimiters and spaces: no header yet
            header = record
            _check_header(path, header, required, delimiter, start)
            index = {name: i for i, name in reversed(list(enumerate(header)))}  # a name's first field
            picked = [(gathered.add(name, 0), index[name]) for name in pick(path, header, wanted, start)]
            batch = max(BATCH_CELLS // max(len(picked), 1), 1)
            continue
        if len(record) != len(header):
            hint = f"; a field holding {delimiter!r} must be in double quotes" if len(record) > len(header) else ""
            raise DataFileError(path, "csv_syntax", f"expected {len(header)} fields (as in the header), found "
                                f"{len(record)}{hint}", row=start)
        for values, i in picked:
            values.append(record[i])
        rows.append(start)
        if len(rows) % batch == 0:
            gathered.flush()
    if header is None:
        raise DataFileError(path, "non_empty", "the file is empty")
    if not rows:
        raise DataFileError(path, "non_empty", "the file has a header but no rows")
    return gathered.columns(), rows


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
    raise DataFileError(path, "columns", f"missing required column(s) {missing}; header is {show(header)}{hint}",
                        row=row)


def _csv_problem(message: str, delimiter: str) -> str:
    if message == "unexpected end of data":
        return "a quoted field that starts in this row is never closed (the file ends inside double quotes)"
    if message.endswith("expected after '\"'"):
        return (f"{message}: a closing double quote must be followed by {delimiter!r} or the end of the line; "
                "write a quote inside a quoted field as two (\"\")")
    return message
