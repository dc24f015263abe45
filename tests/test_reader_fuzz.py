"""Readers never crash: any bytes in a .csv / .tsv / .jsonl / .ndjson / .parquet / .pq file give rows or a
``DataFileError`` naming the file and a known rule — never another exception.

A seeded generate-and-mutate fuzzer (no extra dependency; 4,000 cases). Each case writes a random file the
way tools do (Python's csv writer, ``json.dumps``, pyarrow with random string layouts, encodings, codecs,
page sizes and row groups; random Unicode in the values; nulls, numbers and nested values where text is
expected; duplicate, empty or missing column names), then, in half the cases, mutates its bytes (bit flips,
interesting bytes and tokens, deletions, repeats, truncations, splices with another file, and 32-bit
integers where Parquet keeps its lengths and offsets). Every file is read the ways the callers read it.
Unmutated files that are valid must come back value for value, at the right rows.

A failure names its case; ``FUZZ_CASE=<n>`` reruns that case alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtst.data.files import DataFileError, Loaded, load
from mtst.validation.tables import STAGED_COLUMNS

SEED = 20240512
CASES = {"csv": 1000, "jsonl": 1000, "parquet": 2000}
EXTENSIONS = {"csv": (".csv", ".tsv"), "jsonl": (".jsonl", ".ndjson"), "parquet": (".parquet", ".pq")}
RULES = {"size", "utf8", "non_empty", "columns", "column_types", "not_null", "csv_syntax", "line_endings",
         "jsonl_syntax", "parquet"}
# How the callers read: fetch (every column), validate (STAGED_COLUMNS, nulls counted later), predict, embed.
READS: list[tuple[tuple[str, ...], tuple[str, ...] | None, bool]] = [
    (("text", "label"), None, False), (("text", "label"), STAGED_COLUMNS, True), (("text",), ("id",), False),
    (("text",), (), False)]
POOLS = ["abcdefghijklmnopqrstuvwxyz ABC 0123", ",;\"'\t|\\{}[]:", "\n\r", "\u2028\u2029\u0085\x1c\x1d\x1e\x0b\x0c",
         "\x00\x01\x1f\x7f", "\ufeff\u200b\u202e\ufffd\u0301", "\u00e9\u00df\u6f22\u5b57\u0416", "\U0001f600\U00010348"]
SURROGATES = "\ud800\udbff\udc00\udfff"
TOKENS = [b"\x00", b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xc2\x85", b'"',
          b'""', b",", b"\t", b"\n", b"\r", b"\r\n", b"\\", b"\\ud800", b"\\udc80\\ud83d", b"{", b"}", b"[", b"]", b":",
          b"null", b"NaN", b"-Infinity", b"1e999", b"9" * 5000, b"[" * 3000, b'"text"', b'"label"', b'{"text": 1}',
          b'"text": {"a": [1, 2]}', b'"text":null', b"text,text", b"\x1c\x1d\x1e\x0b\x0c", b"PAR1", b"\xff" * 8]


def _text(rng: random.Random, surrogates: bool = False) -> str:
    pools = POOLS + [SURROGATES] if surrogates else POOLS
    size = rng.choice([0, 1, 3, 12, 12, 40, 300] + ([20_000] if rng.random() < 0.02 else []))
    plain = rng.random() < 0.5  # half the values are ordinary words
    return "".join(rng.choice(POOLS[0] if plain else rng.choice(pools)) for _ in range(size))


def _value(rng: random.Random, text_like: float, surrogates: bool) -> Any:
    """Usually a string; sometimes what should not be there (a number, null, a list, an object, a boolean)."""
    if rng.random() < text_like:
        return _text(rng, surrogates)
    return rng.choice([None, 0, -7, 2**70, 3.5, float("nan"), True, [], ["a", 1], {"k": "v"}, {}])


def _names(rng: random.Random) -> list[str]:
    return rng.choice([["text", "label"], ["text", "label"], ["id", "text", "label", "group", "split"],
                       ["label", "text", "extra"], ["text"], ["text", "label", "text"], ["text", "label", ""],
                       ["text", "lab\u00e9l"], ["id", "text"]])


def _breaks(text: str) -> int:
    return len(re.findall(r"\r\n|\r|\n", text))


def _gen_csv(rng: random.Random, ext: str) -> tuple[bytes, dict[str, Any] | None]:
    names = _names(rng)
    terminator = rng.choice(["\r\n", "\n"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t" if ext == ".tsv" else ",", lineterminator=terminator,
                        quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer.writerow(names)
    expected: dict[str, Any] = {name: [] for name in names} | {"rows": []}
    lone_cr = False  # the writer quotes only the lineterminator's characters: a CR in a field may stand bare
    for _ in range(rng.randint(0, 15)):
        record = [_text(rng) for _ in names]
        lone_cr = lone_cr or any("\r" in value for value in record)
        if len(names) > 1 or record[0].strip():  # a single blank field is a blank line: skipped
            expected["rows"].append(_breaks(buffer.getvalue()) + 1)
            for name, value in zip(names, record):
                expected[name].append(value)
        writer.writerow(record)
    valid = len(set(names)) == len(names) and expected["rows"] and (
        terminator == "\r\n" or writer.dialect.quoting == csv.QUOTE_ALL or not lone_cr)
    return (b"\xef\xbb\xbf" if rng.random() < 0.2 else b"") + buffer.getvalue().encode(), expected if valid else None


def _gen_jsonl(rng: random.Random, ext: str) -> tuple[bytes, dict[str, Any] | None]:
    names = _names(rng)
    ascii_only = rng.random() < 0.5
    surrogates = rng.random() < 0.05  # lone surrogates: "\ud800" escapes, or (not ASCII-only) invalid UTF-8 bytes
    terminator = rng.choice(["\n", "\r\n"])
    lines: list[str] = []
    expected: dict[str, Any] = {name: [] for name in names} | {"rows": []}
    valid = len(set(names)) == len(names)
    for _ in range(rng.randint(1, 12)):
        while rng.random() < 0.1:
            lines.append(rng.choice(["", "  ", "\t"]))
        record = {name: _value(rng, 0.95, surrogates) for name in names if rng.random() < 0.97}
        for name in names:
            valid = valid and isinstance(record.get(name), str) and not re.search("[\ud800-\udfff]", record[name])
            expected[name].append(record.get(name))
        expected["rows"].append(len(lines) + 1)
        line = json.dumps(record, ensure_ascii=ascii_only, allow_nan=True)
        if rng.random() < 0.03:  # a key twice in one object: ambiguous, so refused
            line, valid = line.replace("{", '{"text": "first", ', 1), False
        lines.append(line)
    data = "".join(line + terminator for line in lines).encode("utf-8", "surrogatepass")
    return (b"\xef\xbb\xbf" if rng.random() < 0.1 else b"") + data, expected if valid else None


def _text_array(rng: random.Random, values: list[str | None]) -> pa.Array:
    layout = rng.choice(["string", "large_string", "string_view", "dictionary", "binary", "large_binary",
                         "binary_view"])
    if layout == "dictionary":
        return pa.array(values, pa.string()).dictionary_encode()
    if "binary" in layout:
        return pa.array([None if v is None else v.encode() for v in values], getattr(pa, layout)())
    return pa.array(values, getattr(pa, layout)())


def _gen_parquet(rng: random.Random, ext: str) -> tuple[bytes, dict[str, Any] | None]:
    names = _names(rng)
    n = rng.choice([0, 1, 2, 5, 17, 40])
    expected: dict[str, Any] = {"rows": list(range(1, n + 1))}
    valid = len(set(names)) == len(names) and n > 0
    arrays = []
    for name in names:
        kind = rng.choices(["text", "nulls", "bad_utf8", "int", "float", "struct", "list", "null", "timestamp"],
                           [80, 5, 2, 4, 2, 2, 2, 1, 2])[0]
        values = [_text(rng) for _ in range(n)]
        if kind == "nulls":
            values = [None if rng.random() < 0.3 else v for v in values]
        expected[name] = values
        if kind in ("text", "nulls"):
            arrays.append(_text_array(rng, values))
            valid = valid and None not in values
            continue
        valid = False
        arrays.append({
            "bad_utf8": lambda: pa.array([v.encode() + b"\xff\xfe" for v in values], pa.binary()),
            "int": lambda: pa.array(range(n), pa.int64()),
            "float": lambda: pa.array([i / 7 for i in range(n)]),
            "struct": lambda: pa.array([{"a": v, "b": [1, 2]} for v in values]),
            "list": lambda: pa.array([[v, v] for v in values]),
            "null": lambda: pa.nulls(n),
            "timestamp": lambda: pa.array([rng.choice([0, 2**62, -2**62]) for _ in range(n)], pa.timestamp("ns")),
        }[kind]())
    table = pa.Table.from_arrays(arrays, names=names)
    options: dict[str, Any] = {
        "compression": rng.choice(["snappy", "gzip", "zstd", "brotli", "lz4", "none"]),
        "use_dictionary": rng.random() < 0.6, "row_group_size": rng.choice([1, 3, 64]),
        "data_page_size": rng.choice([64, 1 << 20]), "version": rng.choice(["1.0", "2.4", "2.6"]),
        "data_page_version": rng.choice(["1.0", "2.0"]), "store_schema": rng.random() < 0.8}
    if not options["use_dictionary"] and rng.random() < 0.5:
        options["column_encoding"] = {name: rng.choice(["PLAIN", "DELTA_BYTE_ARRAY", "DELTA_LENGTH_BYTE_ARRAY"])
                                      for name, array in zip(names, arrays)
                                      if pa.types.is_string(array.type) or pa.types.is_binary(array.type)}
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(table, sink, **options)
    except (pa.ArrowException, OSError, ValueError):  # a combination the writer does not support: its defaults then
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
    return sink.getvalue().to_pybytes(), expected if valid else None


GENERATORS: dict[str, Callable[[random.Random, str], tuple[bytes, dict[str, Any] | None]]] = {
    "csv": _gen_csv, "jsonl": _gen_jsonl, "parquet": _gen_parquet}


def _mutate(rng: random.Random, data: bytes, other: bytes, parquet: bool) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        # Parquet keeps its metadata at the end: aim a third of its mutations there, so more get past the footer.
        lo = max(len(buf) - 300, 0) if parquet and rng.random() < 0.35 else 0
        at = rng.randrange(lo, len(buf) + 1)
        kind = rng.randrange(8)
        if kind == 0 and len(buf) > lo:
            for _ in range(rng.randint(1, 8)):
                buf[rng.randrange(lo, len(buf))] ^= 1 << rng.randrange(8)
        elif kind in (1, 2):
            token = rng.choice(TOKENS)
            buf[at:at + (len(token) if kind == 1 else 0)] = token
        elif kind == 3:
            buf[at:at + rng.randint(1, 64)] = b""
        elif kind == 4 and buf:
            start = rng.randrange(len(buf))
            buf[at:at] = buf[start:start + rng.randint(1, 200)] * rng.choice([1, 1, 50])
        elif kind == 5:
            del buf[rng.randrange(len(buf) + 1):]
        elif kind == 6:
            buf = buf[:at] + other[rng.randrange(len(other) + 1):]
        elif kind == 7 and len(buf) >= lo + 4:  # where Parquet keeps lengths, offsets and counts
            i = rng.randrange(lo, len(buf) - 3)
            buf[i:i + 4] = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)]).to_bytes(4, "little")
    return bytes(buf)


def _check(result: Loaded | DataFileError, path: Path, required: tuple[str, ...], allow_nulls: bool,
           expected: dict[str, Any] | None) -> None:
    """The contract: a well-formed frame (the very values, for a valid file), or an error naming the file."""
    if isinstance(result, DataFileError):
        assert expected is None, f"a valid file was refused: {result}"
        assert result.rule in RULES, result
        assert str(result).startswith(f"{path}") and f"[{result.rule}]" in str(result)
        assert result.row is None or result.row >= 1
        return
    frame, rows = result.frame, result.rows
    assert set(required) <= set(frame.columns) and len(frame) == len(rows) > 0
    assert rows == sorted(set(rows)) and rows[0] >= 1
    for column in required:
        assert all(isinstance(v, str) or (allow_nulls and (v is None or v != v)) for v in frame[column]), column
    # Everything read can be written back as UTF-8 JSON: no lone surrogates anywhere.
    json.dumps(frame.to_dict(orient="records"), ensure_ascii=False, default=repr).encode("utf-8")
    if expected is not None:
        assert rows == expected["rows"]
        for column in required:
            assert frame[column].tolist() == expected[column], column


def _run(fmt: str, tmp_path: Path, only: int | None) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    offset = sum(count for f, count in CASES.items() if list(CASES).index(f) < list(CASES).index(fmt))
    other_rng = random.Random(SEED)
    others = [GENERATORS[f](other_rng, EXTENSIONS[f][0])[0] for f in CASES for _ in range(3)]
    for n in range(offset, offset + CASES[fmt]):
        if only is not None and n != only:
            continue
        rng = random.Random(SEED * 100_003 + n)
        ext = EXTENSIONS[fmt][n % 2]
        data, expected = GENERATORS[fmt](rng, ext)
        if rng.random() < 0.5:
            data, expected = _mutate(rng, data, rng.choice(others), fmt == "parquet"), None
        required, optional, allow_nulls = rng.choice(READS)
        max_bytes = rng.choice([None] * 6 + [300, 5_000])
        if max_bytes is not None or not set(required) <= set(expected or ()):
            expected = None
        path = tmp_path / f"case{n}{ext}"
        path.write_bytes(data)
        try:
            result: Loaded | DataFileError = load(path, required, optional=optional, allow_nulls=allow_nulls,
                                                  max_bytes=max_bytes)
        except DataFileError as exc:
            result = exc
        except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
            pytest.fail(f"case {n} ({path.name}): {type(exc).__name__}: {exc}  (rerun with FUZZ_CASE={n})")
        try:
            _check(result, path, required, allow_nulls, expected)
        except AssertionError as exc:
            pytest.fail(f"case {n} ({path.name}): {exc}  (rerun with FUZZ_CASE={n})")
        key = "rows" if isinstance(result, Loaded) else result.rule
        outcomes[key] = outcomes.get(key, 0) + 1
        path.unlink()
    return outcomes


@pytest.mark.parametrize("fmt", list(CASES))
def test_any_bytes_give_rows_or_a_data_file_error(tmp_path, fmt):
    only = os.environ.get("FUZZ_CASE")
    outcomes = _run(fmt, tmp_path, int(only) if only else None)
    if only is None:  # the fuzzer reaches deep: many files read, and the refusals are of many kinds
        assert outcomes.get("rows", 0) > CASES[fmt] // 10, outcomes
        assert len(outcomes) >= 6, outcomes
