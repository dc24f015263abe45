"""A Parquet file's footer (its Thrift metadata), read in pure Python to size a file before pyarrow reads it.

Why not pyarrow's ``FileMetaData``: for some corrupt footers its per-column accessors
(``metadata.row_group(i).column(j)``) throw a C++ exception that ends the process (``std::terminate``)
instead of raising, and a reader that must never crash cannot call them. pyarrow's own reading path
reports the same corruption as a Python exception, so pyarrow still reads the data; this module only
answers "how many rows, and how large are the needed columns once decoded" — with every length and count
bounded by the bytes actually present, so a hostile footer cannot make it allocate or loop much.

Thrift compact protocol: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md;
field ids from parquet-format's ``parquet.thrift``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = b"PAR1"
ENCODINGS = {0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
             6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT"}
_MAX_DEPTH = 64
# Compact-protocol type codes: 1/2 bool true/false, 3 byte, 4 i16, 5 i32, 6 i64, 7 double, 8 binary, 9 list,
# 10 set, 11 map, 12 struct, 13 uuid.
_FIXED = {3: 1, 7: 8, 13: 16}


class FooterError(ValueError):
    """The footer is not Parquet metadata this reader can size (truncated, corrupt, encrypted)."""


@dataclass(frozen=True)
class Chunk:
    """One leaf column in one row group."""

    path: tuple[str, ...]  # e.g. ("meta", "tags", "list", "element"); path[0] is the top-level column
    uncompressed: int  # total_uncompressed_size: its pages once decompressed (still encoded)
    unencoded: int  # SizeStatistics.unencoded_byte_array_data_bytes: its strings' bytes once decoded (0: not written)
    encodings: frozenset[str]


@dataclass(frozen=True)
class Footer:
    num_rows: int
    chunks: list[Chunk]

    def decoded_bytes(self, columns: list[str]) -> int:
        """What ``columns`` (top-level names) take once decompressed — and decoded, where the writer said."""
        wanted = set(columns)
        return sum(max(c.uncompressed, c.unencoded) for c in self.chunks if c.path[0] in wanted)

    def encodings(self, column: str) -> set[str]:
        """The encodings a flat (non-nested) column uses in any row group."""
        return {e for c in self.chunks if c.path == (column,) for e in c.encodings}


class _Compact:
    """A reader of Thrift's compact protocol into ``{field id: value}`` dicts and lists."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise FooterError("the footer is truncated or corrupt")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def _varint(self) -> int:
        result = 0
        for shift in range(0, 70, 7):
            byte = self._take(1)[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
        raise FooterError("the footer holds a malformed number")

    def _zigzag(self) -> int:
        n = self._varint()
        return (n >> 1) ^ -(n & 1)

    def _count(self, size: int) -> int:
        if size > len(self.data) - self.pos:  # every element takes at least one byte
            raise FooterError("the footer claims more elements than it holds")
        return size

    def value(self, kind: int, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise FooterError("the footer is nested too deeply")
        if kind in (1, 2):  # a bool inside a list or map: one byte
            return self._take(1)[0] == 1
        if kind in (4, 5, 6):
            return self._zigzag()
        if kind in _FIXED:
            return self._take(_FIXED[kind])
        if kind == 8:
            return self._take(self._varint())
        if kind in (9, 10):
            header = self._take(1)[0]
            size = self._count(header >> 4 if header >> 4 != 15 else self._varint())
            return [self.value(header & 0x0F, depth + 1) for _ in range(size)]
        if kind == 11:
            size = self._count(self._varint())
            if size == 0:
                return []
            types = self._take(1)[0]
            return [(self.value(types >> 4, depth + 1), self.value(types & 0x0F, depth + 1)) for _ in range(size)]
        if kind == 12:
            return self.struct(depth + 1)
        raise FooterError(f"the footer holds an unknown Thrift type {kind}")

    def struct(self, depth: int = 0) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while True:
            header = self._take(1)[0]
            if header == 0:
                return fields
            kind, delta = header & 0x0F, header >> 4
            last = last + delta if delta else self._zigzag()
            fields[last] = kind == 1 if kind in (1, 2) else self.value(kind, depth)


def _field(struct: Any, field: int, kind: type, what: str, default: Any = None) -> Any:
    value = struct.get(field, default) if isinstance(struct, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FooterError(f"the footer's {what} is missing or malformed")
    return value


def read_footer(path: Path) -> Footer:
    """The row count and the column chunks of a Parquet file, from its footer alone."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size < 12:
            raise FooterError(f"{size} bytes is too short to be Parquet")
        handle.seek(size - 8)
        tail = handle.read(8)
        if tail[4:] == b"PARE":
            raise FooterError("the footer is encrypted")
        if tail[4:] != MAGIC:
            raise FooterError("the file does not end with the Parquet magic bytes 'PAR1' (truncated, or not Parquet)")
        length = int.from_bytes(tail[:4], "little")
        if length > size - 12:
            raise FooterError(f"the footer claims {length:,} bytes, more than the file holds")
        handle.seek(size - 8 - length)
        meta = _Compact(handle.read(length)).struct()
    num_rows = _field(meta, 3, int, "row count")
    if num_rows < 0:
        raise FooterError(f"the footer's row count is negative ({num_rows})")
    chunks = []
    for group in _field(meta, 4, list, "row groups", []):
        for column in _field(group, 1, list, "column chunks"):
            info = _field(column, 3, dict, "column metadata")
            path_in_schema = tuple(p.decode("utf-8", "replace") if isinstance(p, bytes) else "?"
                                   for p in _field(info, 3, list, "column path"))
            if not path_in_schema:
                raise FooterError("the footer's column path is empty")
            uncompressed = _field(info, 6, int, "uncompressed size")
            unencoded = _field(_field(info, 16, dict, "size statistics", {}), 1, int, "unencoded size", 0)
            encodings = frozenset(ENCODINGS.get(e, str(e)) if isinstance(e, int) else "?"
                                  for e in _field(info, 2, list, "encodings"))
            chunks.append(Chunk(path_in_schema, max(uncompressed, 0), max(unencoded, 0), encodings))
    return Footer(num_rows, chunks)
