"""How big a user file may be: refused before it is read, so a wrong path or a decompression bomb stops with a
message instead of taking the machine's memory.

One number bounds both the bytes on disk (CSV / JSONL / Parquet) and what a Parquet file's needed columns
decode to, because a few megabytes of Parquet can expand to many gigabytes (compression, dictionary
encoding, run-length-encoded repeats). The default suits the pipeline's datasets (megabytes) with room to
spare; ``MTST_MAX_FILE_BYTES`` raises or lowers it for every command without a code change.
"""

from __future__ import annotations

from mtst.config import ConfigError
from mtst.environment import Environment, env_name

ENV_VAR = env_name("max_file_bytes")
"""The variable error messages tell the user to set (declared, with its default, in ``mtst.environment``)."""
CELL_BYTES = 8  # the least a table cell costs in memory (one pointer or offset), whatever its value


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
