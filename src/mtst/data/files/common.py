"""What the CSV, JSONL and Parquet readers share: the error they raise, and reading a file's bytes.

Every reader refuses a file over the size limit before reading it, turns bytes that are not UTF-8 into a
``DataFileError`` naming the row, and picks the columns it was asked for the same way, so these live here
once rather than in each reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mtst.data import limits

Columns = dict[str, list[Any] | pd.Series]  # name -> values, one per row


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


def decode(path: Path, raw: bytes) -> str:
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


def show(names: list[str], limit: int = 20) -> str:
    """A list of column names for a message; a file with thousands of keys gets its first few."""
    if len(names) <= limit:
        return str(names)
    return f"{names[:limit]} and {len(names) - limit:,} more"


def pick(path: Path, names: list[str], wanted: list[str] | None, row: int | None) -> list[str]:
    """The names to read: the wanted ones present (all named ones if ``wanted`` is None), each exactly once."""
    chosen = [n for n in names if n] if wanted is None else [n for n in wanted if n in names]
    for name in chosen:
        if names.count(name) > 1:
            raise DataFileError(path, "columns", f"column {name!r} appears {names.count(name)} times; names must be "
                                "unique", row=row)
    return chosen
