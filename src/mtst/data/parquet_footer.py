"""A Parquet file's footer (its Thrift metadata), read in pure Python to size a file before pyarrow reads it.

Why not pyarrow's ``FileMetaData``: for some corrupt footers its per-column accessors
(``metadata.row_group(i).column(j)``) throw a C++ exception that ends the process (``std::terminate``)
instead of raising, and a reader that must never crash cannot call them. pyarrow's own reading path
reports the same corruption as a Python exception, so pyarrow still reads the data; this module only
answers "how many rows, and how large are the needed columns once decoded".

Why a walker and not a parser: a footer is attacker-shaped input, and building a Python object per Thrift
element costs tens of bytes of memory per byte of footer (a list of a million empty structs is a few
megabytes on disk). So the footer is walked once and only the few fields the answer needs are kept, summed
per top-level column as they are met; everything else is skipped by advancing a cursor. The walk is
bounded too — the footer's length (``limits.FOOTER_BYTES``) and the number of Thrift values it holds
(``limits.FOOTER_ELEMENTS``, which also bounds what pyarrow builds from the same footer afterwards) — and
every length and count is checked against the bytes actually present.

Thrift compact protocol: https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md;
field ids from parquet-format's ``parquet.thrift``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mtst.data import limits

MAGIC = b"PAR1"
ENCODINGS = {0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
             6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT"}
_MAX_DEPTH = 64
# Compact-protocol type codes: 1/2 bool true/false, 3 byte, 4 i16, 5 i32, 6 i64, 7 double, 8 binary, 9 list,
# 10 set, 11 map, 12 struct, 13 uuid.
_INTEGERS = (4, 5, 6)
_BINARY, _LIST, _SET, _STRUCT = 8, 9, 10, 12
_FIXED = {3: 1, 7: 8, 13: 16}


class FooterError(ValueError):
    """The footer is not Parquet metadata this reader can size (truncated, corrupt, encrypted, too large)."""


@dataclass
class Footer:
    """What the footer says about each top-level column, summed over its leaves and row groups."""

    num_rows: int
    sizes: dict[str, int] = field(default_factory=dict)  # column -> max(uncompressed, unencoded) bytes, summed
    flat_encodings: dict[str, set[str]] = field(default_factory=dict)  # flat (non-nested) column -> encodings

    def decoded_bytes(self, columns: list[str]) -> int:
        """What ``columns`` (top-level names) take once decompressed — and decoded, where the writer said."""
        return sum(self.sizes.get(name, 0) for name in set(columns))

    def encodings(self, column: str) -> set[str]:
        """The encodings a flat (non-nested) column uses in any row group."""
        return self.flat_encodings.get(column, set())


class _Walker:
    """A cursor over Thrift's compact protocol that reads the fields asked for and skips the rest in place."""

    def __init__(self, data: bytes, max_elements: int) -> None:
        self.data, self.pos, self.left, self.max_elements = data, 0, max_elements, max_elements

    def _count_one(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise FooterError(f"the footer holds more than {self.max_elements:,} values; a file with that "
                              "much metadata (tens of thousands of columns or row groups) is not read — write it "
                              "with fewer, larger row groups")

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise FooterError("the footer is truncated or corrupt")
        self.pos += 1
        return self.data[self.pos - 1]

    def _advance(self, size: int) -> int:
        """Step over ``size`` bytes; return where they start."""
        if size < 0 or self.pos + size > len(self.data):
            raise FooterError("the footer is truncated or corrupt")
        self.pos += size
        return self.pos - size

    def varint(self) -> int:
        result = 0
        for shift in range(0, 70, 7):
            byte = self._byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
        raise FooterError("the footer holds a malformed number")

    def integer(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def binary(self) -> bytes:
        start = self._advance(self.varint())
        return self.data[start:self.pos]

    def _size(self, size: int) -> int:
        if size > len(self.data) - self.pos:  # every element takes at least one byte
            raise FooterError("the footer claims more elements than it holds")
        return size

    def items(self) -> Iterator[int]:
        """A list's (or set's) elements: yields each element's type, the caller reads or skips it."""
        header = self._byte()
        size = self._size(header >> 4 if header >> 4 != 15 else self.varint())
        for _ in range(size):
            self._count_one()
            yield header & 0x0F

    def structs(self, depth: int, what: str, visit: Callable[[int], None]) -> None:
        """A list of structs: ``visit`` reads each one (at ``depth + 1``); any other element is a malformed ``what``."""
        for kind in self.items():
            if kind != _STRUCT:
                raise FooterError(f"the footer's {what} is missing or malformed")
            visit(depth + 1)

    def fields(self) -> Iterator[tuple[int, int]]:
        """A struct's fields as (field id, type); the caller reads or skips each value."""
        last = 0
        while True:
            header = self._byte()
            if header == 0:
                return
            self._count_one()
            kind, delta = header & 0x0F, header >> 4
            last = last + delta if delta else self.integer()
            yield last, kind

    def skip(self, kind: int, depth: int) -> None:
        """Step over one value of ``kind`` without building it."""
        if depth > _MAX_DEPTH:
            raise FooterError("the footer is nested too deeply")
        if kind in (1, 2):  # a bool inside a list or map: one byte (in a struct, the field header holds it)
            self._advance(1)
        elif kind in _INTEGERS:
            self.varint()
        elif kind in _FIXED:
            self._advance(_FIXED[kind])
        elif kind == _BINARY:
            self._advance(self.varint())
        elif kind in (_LIST, _SET):
            for element in self.items():
                self.skip(element, depth + 1)
        elif kind == 11:
            size = self._size(self.varint())
            if size:
                types = self._byte()
                for _ in range(size):
                    self._count_one()
                    self.skip(types >> 4, depth + 1)
                    self.skip(types & 0x0F, depth + 1)
        elif kind == _STRUCT:
            for _, inner in self.fields():
                if inner not in (1, 2):
                    self.skip(inner, depth + 1)
        else:
            raise FooterError(f"the footer holds an unknown Thrift type {kind}")

    def struct(self, depth: int, read: dict[int, tuple[int, Callable[[int], None]]]) -> set[int]:
        """Walk a struct: for a field id in ``read`` of its expected type, call its reader (with the depth);
        skip every other field. Returns the ids read. A field of the wrong type is malformed, not skipped."""
        seen = set()
        for number, kind in self.fields():
            if number in read:
                expected, reader = read[number]
                if kind != expected and not (expected in _INTEGERS and kind in _INTEGERS):
                    raise FooterError("the footer's metadata is malformed (a field of the wrong type)")
                reader(depth + 1)
                seen.add(number)
            elif kind not in (1, 2):
                self.skip(kind, depth + 1)
        return seen


def _required(seen: set[int], number: int, what: str) -> None:
    if number not in seen:
        raise FooterError(f"the footer's {what} is missing or malformed")


def _walk(walker: _Walker) -> Footer:
    """FileMetaData: num_rows (3), row_groups (4) -> RowGroup.columns (1) -> ColumnChunk.meta_data (3) ->
    ColumnMetaData: encodings (2), path_in_schema (3), total_uncompressed_size (6), size_statistics (16) ->
    SizeStatistics.unencoded_byte_array_data_bytes (1)."""
    footer = Footer(0)
    chunk: dict[str, int | str | bool | set[str]] = {}

    def num_rows(depth: int) -> None:
        footer.num_rows = walker.integer()

    def encodings(depth: int) -> None:
        found = set()
        for kind in walker.items():
            if kind in _INTEGERS:
                number = walker.integer()
                found.add(ENCODINGS.get(number, str(number)))
            else:
                walker.skip(kind, depth)
                found.add("?")
        chunk["encodings"] = found

    def path(depth: int) -> None:
        parts = 0
        for kind in walker.items():
            if kind == _BINARY:
                part = walker.binary()
                if not parts:
                    chunk["top"] = part.decode("utf-8", "replace")
            else:
                walker.skip(kind, depth)
                if not parts:
                    chunk["top"] = "?"
            parts += 1
        if not parts:
            raise FooterError("the footer's column path is empty")
        chunk["flat"] = parts == 1

    def uncompressed(depth: int) -> None:
        chunk["uncompressed"] = max(walker.integer(), 0)

    def unencoded(depth: int) -> None:
        chunk["unencoded"] = max(walker.integer(), 0)

    def statistics(depth: int) -> None:
        walker.struct(depth, {1: (6, unencoded)})

    def metadata(depth: int) -> None:
        chunk.clear()
        seen = walker.struct(depth, {2: (_LIST, encodings), 3: (_LIST, path), 6: (6, uncompressed),
                                     16: (_STRUCT, statistics)})
        for number, what in ((3, "column path"), (6, "uncompressed size"), (2, "encodings")):
            _required(seen, number, what)
        top = str(chunk["top"])
        size = max(int(chunk["uncompressed"]), int(chunk.get("unencoded", 0)))  # type: ignore[call-overload]
        footer.sizes[top] = footer.sizes.get(top, 0) + size
        if chunk["flat"]:
            footer.flat_encodings.setdefault(top, set()).update(chunk["encodings"])  # type: ignore[arg-type]

    def column(depth: int) -> None:
        _required(walker.struct(depth, {3: (_STRUCT, metadata)}), 3, "column metadata")

    def columns(depth: int) -> None:
        walker.structs(depth, "column metadata", column)

    def group(depth: int) -> None:
        _required(walker.struct(depth, {1: (_LIST, columns)}), 1, "column chunks")

    def groups(depth: int) -> None:
        walker.structs(depth, "column chunks", group)

    _required(walker.struct(0, {3: (6, num_rows), 4: (_LIST, groups)}), 3, "row count")
    return footer


def read_footer(path: Path) -> Footer:
    """The row count and the per-column sizes of a Parquet file, from its footer alone."""
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
        if length > limits.FOOTER_BYTES:
            raise FooterError(f"the footer is {limits.human(length)}, over the {limits.human(limits.FOOTER_BYTES)} "
                              "a file's metadata may take")
        handle.seek(size - 8 - length)
        data = handle.read(length)
    footer = _walk(_Walker(data, limits.FOOTER_ELEMENTS))
    if footer.num_rows < 0:
        raise FooterError(f"the footer's row count is negative ({footer.num_rows})")
    return footer
