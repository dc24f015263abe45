"""Reading a user file takes memory in proportion to the file, not to what its bytes claim to hold.

Peak memory is measured in a fresh process (``benchmarks/reader_memory.py``'s ``measure``: the kernel's
high-water mark of resident memory, reset just before the read, less the resident memory before it) and
asserted as a ratio to the bytes on disk. Quadratic column checks are caught by counting operations, not time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtst.data import limits
from mtst.data.files import DataFileError, load, read_table
from mtst.data.files.common import pick

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "reader_memory.py"
RATIO = 10  # the most a read may take, as a multiple of the file's bytes
SLACK = 4 << 20  # what any read may add whatever the file: allocator arenas, a few pages of code touched


def _measured(path: Path) -> dict:
    """Read ``path`` once through ``mtst.data.files.load`` in a fresh process: its peak memory and outcome."""
    child = subprocess.run([sys.executable, str(BENCHMARK), "--measure", str(path)], capture_output=True, text=True,
                           check=False)
    assert child.returncode == 0, child.stderr
    found = json.loads(child.stdout.strip().splitlines()[-1])
    found["stderr"] = child.stderr
    return found


def _within_bound(path: Path, found: dict) -> None:
    size = path.stat().st_size
    assert found["peak_delta"] <= RATIO * size + SLACK, (
        f"reading {size:,} bytes took {found['peak_delta']:,} bytes ({found['outcome']}; {found['method']})")


def _footer_of_empty_structs(path: Path, structs: int) -> None:
    sys.path.insert(0, str(BENCHMARK.parent))
    try:
        from reader_memory import _footer_of_empty_structs as write
    finally:
        sys.path.remove(str(BENCHMARK.parent))
    write(path, structs)


def test_a_parquet_footer_of_empty_structs_is_walked_not_built(tmp_path):
    """The footer parser built an object per Thrift element (some 64 bytes a byte of footer); it now skips what
    it does not need, so a footer of 900,000 empty structs (pyarrow skips them too) reads within the bound."""
    path = tmp_path / "structs.parquet"
    _footer_of_empty_structs(path, 900_000)
    found = _measured(path)
    assert found["outcome"] == "100 rows × 2 columns", found["stderr"]
    _within_bound(path, found)


def test_a_parquet_footer_over_the_element_bound_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "structs.parquet"
    _footer_of_empty_structs(path, 3_000_000)  # 3 MB: the old parser took some 210 MB before refusing it
    found = _measured(path)
    assert found["outcome"] == "refused [parquet]"
    _within_bound(path, found)
    with pytest.raises(DataFileError, match=rf"more than {limits.FOOTER_ELEMENTS:,} values") as info:
        load(path)
    assert info.value.rule == "parquet" and str(info.value).startswith(str(path))


def test_a_parquet_footer_over_its_length_bound_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "long.parquet"
    _footer_of_empty_structs(path, 40_000)
    monkeypatch.setattr(limits, "FOOTER_BYTES", 40_000)  # the bound, scaled down to this file
    with pytest.raises(DataFileError, match=r"the footer is [\d.]+ KiB \([\d,]+ bytes\), over the 39\.1 KiB "
                                            r"\(40,000 bytes\)") as info:
        load(path)
    assert info.value.rule == "parquet"


def test_run_length_encoded_empty_rows_are_refused_without_building_them(tmp_path):
    """Five million empty values in a few kilobytes: a table of them costs memory per row whatever the values,
    so the file is refused by its metadata (cells per byte), before any row is read."""
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": [""] * 5_000_000, "label": [""] * 5_000_000}), path)
    with pytest.raises(DataFileError, match=r"5,000,000 rows × 2 columns, more than 2 cell\(s\) per byte") as info:
        load(path)
    assert info.value.rule == "size" and info.value.row is None
    found = _measured(path)
    assert found["outcome"] == "refused [size]"
    assert found["peak_delta"] <= SLACK
    # Reading only some of the columns is judged on those columns: the file is still too small for them.
    with pytest.raises(DataFileError, match="1 columns"):
        load(path, ("text",), optional=())


def test_ordinary_empty_columns_are_read(tmp_path):
    """Empty columns next to real text are read: their cells are within what the file stands for."""
    path = tmp_path / "some_empty.parquet"
    words = [f"sentence number {i} of the file" for i in range(20_000)]
    pq.write_table(pa.table({"text": words, "label": ["a"] * 20_000, **{f"e{i}": [""] * 20_000 for i in range(5)}}),
                   path)
    frame = read_table(path)
    assert frame.shape == (20_000, 7) and set(frame["e4"]) == {""}


def test_jsonl_is_streamed_within_the_bound(tmp_path):
    """JSON Lines was decoded whole and split into a list of lines before a row was parsed (some 14 times the
    file); it is now read a line at a time into arrow-backed columns."""
    path = tmp_path / "short.jsonl"
    path.write_text("".join(json.dumps({"text": f"w{i}", "label": "a"}) + "\n" for i in range(300_000)))
    found = _measured(path)
    assert found["outcome"] == "300,000 rows × 2 columns", found["stderr"]
    _within_bound(path, found)


def test_csv_is_streamed_within_the_bound(tmp_path):
    """Short cells cost a Python object each (some 60 bytes) until the table was complete; they now move into
    arrow as they are read."""
    path = tmp_path / "wide.csv"
    names = [f"c{i}" for i in range(1_000)]
    lines = [",".join(["some words", "a", *(f"v{(row * 7 + i) % 997}" for i in range(len(names)))]) + "\n"
             for row in range(600)]
    path.write_text(",".join(["text", "label", *names]) + "\n" + "".join(lines))
    found = _measured(path)
    assert found["outcome"] == "600 rows × 1,002 columns", found["stderr"]
    _within_bound(path, found)


def test_a_jsonl_key_on_one_line_each_cannot_make_a_table_of_nulls(tmp_path):
    """Each line adding a key made a rows × keys table of nulls (quadratic in the file); it is refused as soon as
    the table outgrows what the file stands for, naming the rule."""
    path = tmp_path / "sparse.jsonl"
    path.write_text("".join(json.dumps({"text": "t", "label": "a", f"k{i}": 1}) + "\n" for i in range(3_000)))
    with pytest.raises(DataFileError, match=r"cell\(s\) per byte of the file") as info:
        load(path)
    assert info.value.rule == "size"
    found = _measured(path)
    assert found["outcome"] == "refused [size]"
    assert found["peak_delta"] <= 2 * limits.CELLS_PER_BYTE * limits.CELL_BYTES * path.stat().st_size + SLACK
    # Keys that some lines lack are fine: the nulls are in proportion to the lines.
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps({"text": "t", "label": "a"} | ({"group": "g"} if i % 2 else {})) + "\n"
                             for i in range(1_000)))
    assert load(mixed).frame["group"].isna().sum() == 500


class _Name(str):
    """A column name that counts how often it is compared: a quadratic check compares every pair."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _Name.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_picking_columns_is_not_quadratic_in_their_number(tmp_path):
    names = [_Name(f"c{i}") for i in range(5_000)]
    _Name.comparisons = 0
    assert pick(tmp_path / "f.csv", names, None, 1) == names
    assert _Name.comparisons <= 2 * len(names)


def _list_scans(read) -> int:
    """How many times ``read()`` calls ``list.count`` or ``list.index`` — each a scan of the whole list."""
    scans = 0

    def profile(frame, event, arg):
        nonlocal scans
        if event == "c_call" and type(getattr(arg, "__self__", None)) is list and arg.__name__ in ("count", "index"):
            scans += 1

    sys.setprofile(profile)
    try:
        read()
    finally:
        sys.setprofile(None)
    return scans


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_reading_many_columns_scans_no_list_per_column(tmp_path, suffix):
    names = [f"c{i}" for i in range(3_000)]
    path = tmp_path / f"wide{suffix}"
    rows = [{"text": "some words", "label": "a", **{name: "v" for name in names}}] * 3
    if suffix == ".csv":
        path.write_text(",".join(rows[0]) + "\n" + "".join(",".join(row.values()) + "\n" for row in rows))
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    assert _list_scans(lambda: load(path)) < 10


def test_a_duplicate_among_thousands_of_keys_is_found_in_one_pass(tmp_path):
    names = [f"c{i}" for i in range(3_000)]
    path = tmp_path / "dup.jsonl"
    path.write_text('{"text": "t", "label": "a"}\n{' + ", ".join(f'"{name}": 1' for name in [*names, "c2990"]) + "}\n")
    errors: list[DataFileError] = []

    def read() -> None:
        try:
            load(path)
        except DataFileError as exc:
            errors.append(exc)

    assert _list_scans(read) < 10
    assert [(e.rule, e.row) for e in errors] == [("jsonl_syntax", 2)]
    assert "the key 'c2990' appears twice" in str(errors[0])


def test_rows_are_runs_of_lines(tmp_path):
    """A record's row is kept as runs of consecutive lines: indexing, iteration and equality as a list's."""
    from mtst.data.files import Rows

    rows = Rows()
    for row in (2, 3, 4, 7, 8, 12):
        rows.append(row)
    assert rows == [2, 3, 4, 7, 8, 12] and list(rows) == [2, 3, 4, 7, 8, 12] and len(rows) == 6
    assert (rows[0], rows[3], rows[-1], rows[1:3]) == (2, 7, 12, [3, 4])
    assert rows != [2, 3, 4] and Rows.span(3) == [1, 2, 3] and Rows.span(0) == []
    with pytest.raises(IndexError):
        rows[6]
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n\n{"text": "b", "label": "x"}\n{"text": "c", "label": "x"}\n')
    assert load(path).rows == [1, 3, 4]
