"""JSON Lines (``.jsonl`` / ``.ndjson``): one JSON object per line, a record's row being its line.

Lines end at LF (or CRLF) only: JSON strings may hold any Unicode, U+2028 and U+0085 included. A duplicate
key, a line that is not an object and a lone surrogate (not encodable as UTF-8) are refused by row.

The file is read a line at a time and each record's values go straight into their columns (no dict kept per
record); a key that appears late gets nulls for the rows before it — after checking that the table it widens
is one the file may stand for, so keys that each appear once cannot make a rows-by-keys table of nulls.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from mtst.data import limits
from mtst.data.files.columns import BATCH_CELLS, Gathered
from mtst.data.files.common import Columns, DataFileError, Rows, check_cells, lines, show

_WHAT = "the keys found so far"
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # only a line holding one can decode to a lone surrogate


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        counts = Counter(key for key, _ in pairs)  # one pass: an object may hold many thousands of keys
        raise _DuplicateKey(next(key for key, count in counts.items() if count > 1))
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


def read_jsonl(path: Path, required: tuple[str, ...], wanted: list[str] | None,
               limit: int) -> tuple[Columns, Rows]:
    gathered = Gathered()
    columns = gathered.values  # key -> its values waiting to move into arrow
    rows = Rows()
    size = path.stat().st_size
    waiting = 0  # cells gathered since the last move
    for row, line in enumerate(lines(path, limit, cr=False), start=1):  # JSON Lines end at LF (or CRLF) only
        if not line.strip(" \t\r\n"):
            continue
        record = _parse_line(path, line, row)
        if wanted is not None:
            record = {k: record[k] for k in wanted if k in record}
        count = len(rows)
        for key, value in record.items():
            values = columns.get(key)
            if values is None:
                check_cells(path, size, count + 1, len(columns) + 1, _WHAT)
                values = gathered.add(key, count)
            values.append(value)
        rows.append(row)
        if len(record) < len(columns):  # the keys this record lacks are null in its row
            check_cells(path, size, count + 1, len(columns), _WHAT)
            for key, values in columns.items():
                if gathered.length(key) == count:
                    values.append(None)
        waiting += len(columns)
        if waiting >= BATCH_CELLS:
            gathered.flush()
            waiting = 0
    footprint = limits.table_footprint(len(rows), len(columns), 0)
    if footprint > limit:
        raise DataFileError(path, "size", f"{len(rows):,} rows with {len(columns):,} distinct keys make a table of at "
                            f"least {limits.human(footprint)}, over the limit of {limits.human(limit)}; set "
                            f"{limits.ENV_VAR} to raise it")
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataFileError(path, "columns", f"missing required key(s) {missing}; keys are {show(sorted(columns))}")
    return gathered.columns(), rows

