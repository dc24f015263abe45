"""How big a user file may be: refused before it is read, so a wrong path or a decompression bomb stops with a
message instead of taking the machine's memory.

One number bounds both the bytes on disk (CSV / JSONL / Parquet) and what a Parquet file's needed columns
decode to, because a few megabytes of Parquet can expand to many gigabytes (compression, dictionary
encoding, run-length-encoded repeats). The default suits the pipeline's datasets (megabytes) with room to
spare; ``MTST_MAX_FILE_BYTES`` raises or lowers it for every command without a code change.

Memory follows the file, not its contents: besides its values, a table costs memory per cell, so a file may
hold at most ``CELLS_PER_BYTE`` cells (rows × columns) per byte on disk (``max_cells``) — a small file cannot
stand for a huge table of nothing, such as a Parquet column of millions of run-length-encoded empty values or
a JSON Lines file whose every line adds a key to every row. Values themselves may decompress (Parquet) up to
the limit above. A Parquet footer is bounded on its own (``FOOTER_BYTES``, ``FOOTER_ELEMENTS``): pyarrow
builds objects from all of it, whichever columns are read.
"""

from __future__ import annotations

from mtst.config import ConfigError
from mtst.environment import Environment, env_name

ENV_VAR = env_name("max_file_bytes")
"""The variable error messages tell the user to set (declared, with its default, in ``mtst.environment``)."""
CELL_BYTES = 8  # the least a table cell costs in memory (one pointer or offset), whatever its value
CELLS_PER_BYTE = 2
"""The most table cells a file may hold per byte of it. A CSV cell takes at least a byte (its delimiter or line
end) and a JSON one several, so only keys missing from lines can reach it; in ordinary Parquet the text takes
bytes on every row, while a run-length-encoded column packs a million rows into a few bytes."""
FOOTER_BYTES = 64 << 20  # a Parquet footer's most bytes: metadata of thousands of columns and row groups fits
FOOTER_ELEMENTS = 1_000_000
"""A Parquet footer's most Thrift values (fields, list items): about forty describe one column chunk, so this is
tens of thousands of column chunks; pyarrow builds an object from each that it knows."""


def max_bytes(override: int | None = None) -> int:
    """The limit in force: ``override`` (``read_table(max_bytes=...)``), else the environment, else the default."""
    if override is not None:
        if override <= 0:
            raise ConfigError(f"max_bytes must be a positive number of bytes, got {override}")
        return override
    return Environment.current().max_file_bytes


def human(size: int) -> str:
    """``1073741824`` -> ``'1.0 GiB (1,073,741,824 bytes)'``: readable, and exact for those who set the limit."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit} ({size:,} bytes)"
    return f"{size:,} bytes"


def table_footprint(rows: int, columns: int, value_bytes: int) -> int:
    """A lower bound of a table's memory: its values' bytes plus one pointer per cell."""
    return value_bytes + rows * columns * CELL_BYTES


def max_cells(file_size: int) -> int:
    """The most cells (rows × columns) the table read from a file of ``file_size`` bytes may have."""
    return CELLS_PER_BYTE * file_size
