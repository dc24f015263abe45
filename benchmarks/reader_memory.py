"""Peak memory while a user file is read, against its size on disk (not a test): per format and shape.

Why: a reader's memory should follow the file's size, not what its bytes claim to hold. Each shape below is
written to disk, then read through ``mtst.data.files.load`` (every column, as ``mtst data fetch`` reads a
user file) in a fresh process, which reports the peak of its resident memory during the read less its
resident memory before it. The peak is the kernel's high-water mark (``VmHWM``, what ``ru_maxrss`` reports),
reset just before the read through ``/proc/self/clear_refs`` so that imports do not count; where the reset is
not allowed, ``ru_maxrss`` as it is (``method`` in the results says which). Before the read the process has
imported the readers and read a tiny file of the same format, so lazily loaded modules do not count either.

The shapes: ordinary rows (a sentence and a label); many columns; cells that are empty; for JSON Lines, long
lines, many short lines, a text with one character outside Latin-1 (Python then stores every character in four
bytes), keys that each appear on one line; for Parquet, columns and rows of run-length-encoded empty values
and a footer holding millions of empty Thrift structs. A file the reader refuses shows the rule.

    .venv/bin/python benchmarks/reader_memory.py [--scale 1.0] [--work .cache/bench-reader-memory]
                                                 [--out reports/bench_reader_memory.json]

Another checkout's readers are measured by running this file with that checkout's ``src`` first on
``PYTHONPATH`` (the reader's API, ``load``, is the same).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from results import default_out, write_results

NAME = "reader_memory"
WORDS = ("the market rose sharply after the bank said its profits would beat forecasts while players in the "
         "final match scored twice and critics praised a new film about an old singer who toured europe").split()
LABELS = ("business", "sport", "entertainment")
NOTES = """\
`peak Δ` is the peak resident memory during the read less the resident memory before it, in a fresh process
(method in the JSON: `VmHWM` reset through `/proc/self/clear_refs`, i.e. `ru_maxrss` of the read alone); `ratio`
is `peak Δ` / bytes on disk. Every column is read, as `mtst data fetch` reads a user file. `outcome`: the rows
read, or the rule of the refusal (`DataFileError`). A shared machine is noisy; compare ratios, not megabytes.
"""


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(8, 16)))


def _csv(path: Path, header: list[str], rows: Callable[[random.Random], list[str]], count: int) -> None:
    import csv

    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for _ in range(count):
            writer.writerow(rows(rng))


def _jsonl(path: Path, record: Callable[[random.Random, int], dict[str, Any]], count: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            handle.write(json.dumps(record(rng, i), ensure_ascii=False) + "\n")


def _parquet(path: Path, columns: dict[str, Any], **options: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path, **options)


def _ordinary(count: int) -> dict[str, list[str]]:
    rng = random.Random(7)
    return {"text": [_sentence(rng) for _ in range(count)], "label": [rng.choice(LABELS) for _ in range(count)]}


def _footer_of_empty_structs(path: Path, structs: int) -> None:
    """A small valid file whose footer gains an unknown field (id 100): a list of ``structs`` empty structs. Thrift
    readers skip unknown fields, so the file stays valid Parquet; each empty struct is one byte."""
    _parquet(path, _ordinary(100))
    data = path.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - length:-8]
    assert footer.endswith(b"\x00")  # FileMetaData's stop byte

    def varint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
        return out + bytes([n])

    extra = b"\x09" + varint(100 << 1) + b"\xfc" + varint(structs) + b"\x00" * structs  # list<struct>, id 100
    footer = footer[:-1] + extra + b"\x00"
    path.write_bytes(data[:-8 - length] + footer + len(footer).to_bytes(4, "little") + b"PAR1")


def shapes(scale: float) -> dict[tuple[str, str], Callable[[Path], None]]:
    """(format, shape) -> a writer of that file; ``scale`` 1 makes the ordinary files some 15-30 MB."""
    n = lambda count: max(int(count * scale), 1)  # noqa: E731
    wide = [f"c{i}" for i in range(2000)]
    empty = [f"e{i}" for i in range(200)]
    return {
        ("csv", "ordinary rows"): lambda p: _csv(p, ["text", "label"],
                                                 lambda r: [_sentence(r), r.choice(LABELS)], n(200_000)),
        ("csv", "2,000 columns"): lambda p: _csv(p, ["text", "label", *wide],
                                                 lambda r: ["some words", "a", *(f"v{r.randrange(999)}" for _ in wide)],
                                                 n(1_000)),
        ("csv", "200 empty columns"): lambda p: _csv(p, ["text", "label", *empty],
                                                     lambda r: [_sentence(r), r.choice(LABELS), *([""] * 200)],
                                                     n(50_000)),
        ("jsonl", "ordinary rows"): lambda p: _jsonl(p, lambda r, i: {"text": _sentence(r), "label": r.choice(LABELS)},
                                                     n(200_000)),
        ("jsonl", "one non-Latin-1 character"): lambda p: _jsonl(
            p, lambda r, i: {"text": _sentence(r) + (" \u6f22" if i == 0 else ""), "label": r.choice(LABELS)},
            n(200_000)),
        ("jsonl", "many short lines"): lambda p: _jsonl(p, lambda r, i: {"text": f"w{i}", "label": "a"}, n(1_000_000)),
        ("jsonl", "long lines"): lambda p: _jsonl(p, lambda r, i: {"text": " ".join(r.choices(WORDS, k=200_000)),
                                                                   "label": "a"}, max(n(16), 2)),
        ("jsonl", "2,000 keys"): lambda p: _jsonl(p, lambda r, i: {"text": "some words", "label": "a",
                                                                   **{k: r.randrange(999) for k in wide}}, n(1_000)),
        ("jsonl", "a new key on every line"): lambda p: _jsonl(p, lambda r, i: {"text": "some words", "label": "a",
                                                                                f"k{i}": 1}, n(5_000)),
        ("parquet", "ordinary rows"): lambda p: _parquet(p, _ordinary(n(400_000))),
        ("parquet", "2,000 columns"): lambda p: _parquet(p, {"text": ["some words"] * n(1_000),
                                                             "label": ["a"] * n(1_000),
                                                             **{k: [f"v{i % 999}" for i in range(n(1_000))]
                                                                for k in wide}}),
        ("parquet", "20 RLE-empty columns"): lambda p: _parquet(p, {**_ordinary(n(100_000)),
                                                                    **{k: [""] * n(100_000) for k in empty[:20]}}),
        ("parquet", "200 RLE-empty columns"): lambda p: _parquet(p, {**_ordinary(n(100_000)),
                                                                     **{k: [""] * n(100_000) for k in empty}}),
        ("parquet", "RLE-empty rows"): lambda p: _parquet(p, {"text": [""] * n(5_000_000),
                                                              "label": [""] * n(5_000_000)}),
        ("parquet", "footer of 900k empty structs"): lambda p: _footer_of_empty_structs(p, n(900_000)),
        ("parquet", "footer of 3M empty structs"): lambda p: _footer_of_empty_structs(p, n(3_000_000)),
    }


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def measure(path: Path) -> dict[str, Any]:
    """In this (fresh) process: read ``path`` once and report the peak resident memory the read added."""
    import tempfile

    import pandas  # noqa: F401 - imported before the baseline, as every caller of the readers has
    import pyarrow.parquet  # noqa: F401

    from mtst.data.files import DataFileError, load

    with tempfile.TemporaryDirectory() as folder:  # lazily imported modules and first-use caches: before the baseline
        warm = Path(folder) / f"warm{path.suffix}"
        if path.suffix == ".parquet":
            _parquet(warm, _ordinary(3))
        else:
            warm.write_text('{"text": "a", "label": "b"}\n' if path.suffix == ".jsonl" else "text,label\na,b\n")
        load(warm)
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")  # resets VmHWM to the current RSS
        method = "VmHWM reset by /proc/self/clear_refs"
    except OSError:
        method = "ru_maxrss (not reset: imports may count)"
    before = _status("VmRSS")
    start = time.perf_counter()
    try:
        loaded = load(path)
        outcome = f"{len(loaded.rows):,} rows × {len(loaded.frame.columns):,} columns"
    except DataFileError as exc:
        outcome = f"refused [{exc.rule}]"
        print(f"{path.name}: {exc}"[:400], file=sys.stderr)
    seconds = time.perf_counter() - start
    peak = _status("VmHWM") if method.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_delta": max(peak - before, 0), "rss_before": before, "seconds": seconds, "outcome": outcome,
            "method": method}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="file sizes, relative to the default")
    parser.add_argument("--work", type=Path, default=Path(".cache/bench-reader-memory"))
    parser.add_argument("--out", type=Path, default=default_out(NAME))
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child: the file to read
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    import mtst.data.files

    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for (fmt, shape), write in shapes(args.scale).items():
        path = args.work / f"{fmt}-{shape.replace(' ', '_').replace(',', '')}.{fmt}"
        write(path)
        size = path.stat().st_size
        print(f"{fmt} / {shape}: {size:,} bytes ...", flush=True)
        child = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True)
        if child.returncode:
            raise SystemExit(f"measuring {path} failed:\n{child.stderr}")
        found = json.loads(child.stdout.strip().splitlines()[-1])
        path.unlink()
        rows.append({"format": fmt, "shape": shape, "bytes on disk": size,
                     "peak Δ (MiB)": found["peak_delta"] / (1 << 20), "ratio": found["peak_delta"] / size,
                     "outcome": found["outcome"], "seconds": found["seconds"], "method": found["method"]})
        print(f"    peak Δ {found['peak_delta'] / (1 << 20):.1f} MiB, ratio {found['peak_delta'] / size:.2f}, "
              f"{found['outcome']}", flush=True)
    result = {"readers": str(Path(mtst.data.files.__file__).parent), "scale": args.scale, "rows": rows}
    columns = ["format", "shape", "bytes on disk", "peak Δ (MiB)", "ratio", "outcome", "seconds"]
    json_path, md_path = write_results(NAME, result, rows, title="Reader memory: peak RSS against bytes on disk",
                                       notes=NOTES, out=args.out, columns=columns)
    print(f"(written: {json_path}, {md_path})")


if __name__ == "__main__":
    main()
