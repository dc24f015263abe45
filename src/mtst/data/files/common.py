"""What the CSV, JSONL and Parquet readers share: the error they raise, reading a file's lines, the rows.

Every reader refuses a file over the size limit before reading it, turns bytes that are not UTF-8 into a
``DataFileError`` naming the row, picks the columns it was asked for the same way, and refuses a table
with more cells than its file may stand for (``limits.max_cells``), so these live here once rather than in
each reader. Text formats are read a line at a time (``lines``): holding the whole text, and a copy split into
lines, would cost several times the file before a single row is kept.
"""

from __future__ import annotations

import bisect
import io
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import pandas as pd

from mtst.data import limits

Columns = dict[str, list[Any] | pd.Series]  # name -> values, one per row
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
              (b"\xfe\xff", "UTF-16"))


class DataFileError(ValueError):
    """Bad input: carries the file, the 1-based row (None for file-level problems) and the violated rule."""

    def __init__(self, path: str | Path, rule: str, detail: str, row: int | None = None) -> None:
        self.path, self.rule, self.detail, self.row = str(path), rule, detail, row
        where = f"{self.path}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: [{rule}] {detail}")


def read_text(path: str | Path, *, max_bytes: int | None = None) -> str:
    """A UTF-8 text file's content (a leading BOM stripped), refused above the size limit before it is read;
    bytes that are not UTF-8 are named by row. For plain-text inputs too (one sentence a line)."""
    path = Path(path)
    limit = limits.max_bytes(max_bytes)
    check_size(path, limit)
    return decode(path, read_bytes(path, limit))


def check_size(path: Path, limit: int) -> None:
    size = path.stat().st_size
    if size > limit:
        raise DataFileError(path, "size", f"the file is {limits.human(size)}, over the limit of {limits.human(limit)}; "
                            f"set {limits.ENV_VAR} to raise it")
    if size == 0:
        raise DataFileError(path, "non_empty", "the file is empty")


def read_bytes(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)  # the file may have grown since it was measured
    except OSError as exc:
        raise DataFileError(path, "readable", f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise DataFileError(path, "size", f"the file is over the limit of {limits.human(limit)}; "
                            f"set {limits.ENV_VAR} to raise it")
    return raw


def _check_wide_bom(path: Path, raw: bytes) -> None:
    for bom, encoding in _WIDE_BOMS:
        if raw.startswith(bom):
            raise DataFileError(path, "utf8", f"the file is {encoding} (it starts with a {encoding} byte-order mark); "
                                "save it as UTF-8", row=1)


def _not_utf8(path: Path, raw: bytes, exc: UnicodeDecodeError, offset: int, row: int) -> DataFileError:
    return DataFileError(path, "utf8", f"byte 0x{raw[exc.start]:02x} at offset {offset + exc.start} is not valid "
                         "UTF-8; save the file as UTF-8 (Excel: 'CSV UTF-8')", row=row)


def decode(path: Path, raw: bytes) -> str:
    _check_wide_bom(path, raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, raw, exc, 0, raw[: exc.start].count(b"\n") + 1) from None
    text = text.removeprefix("\ufeff")  # a BOM is tolerated and stripped, not fatal
    if not text.strip():
        raise DataFileError(path, "non_empty", "the file is empty")
    return text


def lines(path: Path, limit: int, *, cr: bool) -> Iterator[str]:
    """A UTF-8 text file's lines, each with its terminator, read one at a time (a leading BOM stripped).

    Lines end at LF (and so CRLF); with ``cr`` a lone CR ends one too (CSV: CR, LF and CRLF, never U+2028 and
    kin). Bytes that are not UTF-8 are named by the row they are on, counted as these lines are. A file that is
    empty or only whitespace, or that grows past ``limit`` while read, is refused.
    """
    check_size(path, limit)
    row, offset, blank = 0, 0, True
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataFileError(path, "readable", f"cannot read the file: {exc.strerror or exc}") from None
    with handle:
        for raw in handle:  # binary files split at LF only
            if not offset:
                _check_wide_bom(path, raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                breaks = raw.count(b"\r", 0, exc.start) if cr else 0  # a CR before the bad byte ended a line
                raise _not_utf8(path, raw, exc, offset, row + breaks + 1) from None
            if not offset:
                text = text.removeprefix("\ufeff")  # a BOM is tolerated and stripped, not fatal
            offset += len(raw)
            if offset > limit:
                raise DataFileError(path, "size", f"the file is over the limit of {limits.human(limit)}; "
                                    f"set {limits.ENV_VAR} to raise it")
            blank = blank and not text.strip()
            end = len(text) - (2 if text.endswith("\r\n") else 1)
            split = cr and text.find("\r", 0, end) != -1  # a lone CR inside: more than one line (never U+2028)
            for part in io.StringIO(text, newline="") if split else (text,):
                row += 1
                yield part
    if blank:
        raise DataFileError(path, "non_empty", "the file is empty")


def check_cells(path: Path, size: int, rows: int, columns: int, what: str) -> None:
    """Refuse a table with more cells than its file (``size`` bytes) may stand for (``limits.max_cells``): each
    cell costs memory, whatever its value."""
    if rows * columns > limits.max_cells(size):
        raise DataFileError(path, "size", f"{what} make {rows:,} rows × {columns:,} columns, more than "
                            f"{limits.CELLS_PER_BYTE} cell(s) per byte of the file's {limits.human(size)}: a file "
                            "this small cannot stand for that many values (run-length-encoded repeats, or keys that "
                            "most lines lack); leave out the columns that are not needed, or write the values out")


class Rows(Sequence[int]):
    """The file row of each record (``rows[i]`` for ``frame.iloc[i]``), kept as runs of consecutive rows.

    Why not a list: a list of ints costs some 36 bytes a record, more than a short line takes on disk. Records
    mostly follow each other line by line, so a file without blank lines or multi-line cells is one run, and
    every other run starts after at least one byte of the file. Compares equal to any sequence of the same
    rows (``loaded.rows == [2, 4, 5]``).
    """

    def __init__(self) -> None:
        self._starts = array("q")  # the record index each run starts at
        self._firsts = array("q")  # that record's row
        self._length = 0

    @classmethod
    def span(cls, count: int) -> Rows:
        """Rows 1 .. ``count``: a Parquet file's records."""
        rows = cls()
        if count:
            rows._starts.append(0)
            rows._firsts.append(1)
            rows._length = count
        return rows

    def append(self, row: int) -> None:
        if not self._length or row != self._firsts[-1] + self._length - self._starts[-1]:
            self._starts.append(self._length)
            self._firsts.append(row)
        self._length += 1

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("row index out of range")
        run = bisect.bisect_right(self._starts, index) - 1
        return self._firsts[run] + index - self._starts[run]

    def __iter__(self) -> Iterator[int]:
        ends = [*self._starts[1:], self._length]
        for start, first, end in zip(self._starts, self._firsts, ends):
            yield from range(first, first + end - start)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == self._length and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Rows({list(self) if self._length <= 20 else f'{self._length:,} rows'})"


def show(names: list[str], limit: int = 20) -> str:
    """A list of column names for a message; a file with thousands of keys gets its first few."""
    if len(names) <= limit:
        return str(names)
    return f"{names[:limit]} and {len(names) - limit:,} more"


def pick(path: Path, names: list[str], wanted: list[str] | None, row: int | None) -> list[str]:
    """The names to read: the wanted ones present (all named ones if ``wanted`` is None), each exactly once."""
    counts = Counter(names)  # one pass: a file may have many thousands of columns
    chosen = [n for n in counts if n] if wanted is None else [n for n in wanted if n in counts]
    for name in chosen:
        if counts[name] > 1:
            raise DataFileError(path, "columns", f"column {name!r} appears {counts[name]} times; names must be "
                                "unique", row=row)
    return chosen
