"""The corpus of bad inputs: every kind is rejected, by the right layer, with the file, the rule and the row(s).

Files are generated in tmp_path from one good Task B table (12 rows per label). Parse-level kinds stop in
the reader (``DataFileError``) before Great Expectations runs; content kinds fail GX expectations. All
content kinds are validated in ONE GX Checkpoint (each file as its own dataset, so no file influences
another), and every file must fail exactly the expected rule(s) — nothing less and nothing more.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtst.config import ValidateParams
from mtst.data.files import DataFileError
from mtst.steps import validate
from mtst.validation import check, summarise
from mtst.validation.report import Failure
from mtst.validation.tables import USER_COLUMNS, read

LABELS = ["negative", "neutral", "positive"]
# Small files: 3 rows of every label per split are enough. The labels are declared, so a label that is not one
# of them fails label_set (undeclared, a file's labels are its own: test_cli_... and tests/test_own_labels.py).
PARAMS = ValidateParams(min_per_class=3, labels={"task_b": LABELS})


def good_rows(per_label: int = 12) -> list[dict]:
    return [{"text": f"review {i} talks about the {LABELS[i % 3]} side of product {i}", "label": LABELS[i % 3]}
            for i in range(per_label * 3)]


def with_splits(rows: list[dict]) -> list[dict]:
    """Two thirds train, one third test (per label: 8 / 4), each row its own article."""
    return [{**r, "split": "test" if i % 9 >= 6 else "train", "group": f"article{i}"} for i, r in enumerate(rows)]


def csv_bytes(rows: list[dict], line_end: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")


def parquet_bytes(names: list[str] | None = None, **columns: pa.Array) -> bytes:
    """The good table as Parquet, with ``columns`` replaced (or added) and the names optionally overridden."""
    table = pa.Table.from_pylist(good_rows())
    for name, array in columns.items():
        table = table.set_column(table.column_names.index(name), name, array) if name in table.column_names \
            else table.append_column(name, array)
    sink = pa.BufferOutputStream()
    pq.write_table(table.rename_columns(names) if names else table, sink)
    return sink.getvalue().to_pybytes()


def edit(rows: list[dict], index: int, **changes) -> list[dict]:
    rows = [dict(r) for r in rows]
    rows[index].update(changes)
    return rows


# ---- parse level: (file name, content builder, rule, row, extra text the message must contain) ----------

def _latin1() -> bytes:
    return csv_bytes(good_rows()[:2]) + "café crème is lovely,positive\n".encode("latin-1")


def _mixed_endings() -> bytes:
    data = csv_bytes(good_rows(), line_end="\r\n")
    return data + b"one more row in unix style,neutral\n"


def _ragged() -> bytes:
    lines = csv_bytes(good_rows()).decode().splitlines()
    lines[4] = lines[4] + ",an extra field"
    return ("\n".join(lines) + "\n").encode()


def _wrong_types_parquet(path: Path) -> None:
    frame = pd.DataFrame(good_rows())
    frame["label"] = frame["label"].map({label: i for i, label in enumerate(LABELS)})  # int64 codes, not names
    frame.to_parquet(path)


def _footer_claims_too_much() -> bytes:
    data = bytearray(parquet_bytes())
    data[-8:-4] = (len(data) * 2).to_bytes(4, "little")  # the footer's length, just before the closing "PAR1"
    return bytes(data)


def _bad_size_statistics() -> bytes:
    """A definition-level histogram one entry too long (the fuzzer found it): pyarrow's metadata accessors end the
    process on it (std::terminate), which is why the reader sizes Parquet files from the footer itself."""
    data = parquet_bytes()
    histogram = b"\x19\x26\x00\x48"  # SizeStatistics field 3: a list of 2 i64, [0 nulls, 36 values]
    assert histogram in data, "pyarrow wrote the footer differently: update this case"
    body = data[:-8].replace(histogram, b"\x19\x36\x00\x48\x00", 1)  # 3 entries where a nullable column has 2
    length = int.from_bytes(data[-8:-4], "little") + len(body) - (len(data) - 8)
    return body + length.to_bytes(4, "little") + b"PAR1"


def _binary_label_not_utf8() -> bytes:
    labels = [r["label"].encode() for r in good_rows()]
    labels[3] = b"neutr\xe9l"  # Latin-1, in a binary column
    return parquet_bytes(label=pa.array(labels, pa.binary()))


def _no_rows() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())}), sink)
    return sink.getvalue().to_pybytes()


def _utf16_without_bom() -> bytes:
    return csv_bytes(good_rows()).decode().encode("utf-16-le")


PARSE_CASES: list[tuple[str, Callable[[], bytes] | None, str, int | None, str]] = [
    ("missing_column.csv", lambda: b"text,category\nfine text,positive\n", "columns", 1, "['label']"),
    ("wrong_delimiter.csv", lambda: csv_bytes(good_rows()).replace(b",", b";"), "columns", 1, "';'-delimited"),
    ("empty.csv", lambda: b"", "non_empty", None, "empty"),
    ("whitespace_only_file.jsonl", lambda: b"\n  \n\n", "non_empty", None, "empty"),
    ("header_only.csv", lambda: b"text,label\n", "non_empty", None, "no rows"),
    ("latin1_bytes.csv", _latin1, "utf8", 4, "0xe9"),
    ("utf16_with_bom.csv", lambda: "text,label\nhello there,positive\n".encode("utf-16"), "utf8", 1, "UTF-16"),
    ("lone_surrogate.jsonl", lambda: jsonl_bytes(good_rows()[:3]) + b'{"text": "bad \\udc80 escape", "label": "neutral"}\n',
     "utf8", 4, "surrogate"),
    ("broken_line.jsonl", lambda: jsonl_bytes(good_rows()[:2]) + b'{"text": "cut off here\n', "jsonl_syntax", 3, "not valid JSON"),
    ("not_an_object.jsonl", lambda: jsonl_bytes(good_rows()[:1]) + b'["a list", "positive"]\n', "jsonl_syntax", 2, "got list"),
    ("number_label.jsonl", lambda: jsonl_bytes(edit(good_rows(), 5, label=2)), "column_types", 6, "'label' is int"),
    ("mixed_line_endings.csv", _mixed_endings, "line_endings", 38, "mixed CRLF and LF line endings"),
    ("ragged_row.csv", _ragged, "csv_syntax", 5, "expected 2 fields (as in the header), found 3"),
    ("missing_key.jsonl", lambda: jsonl_bytes([{"text": r["text"]} for r in good_rows()]), "columns", None, "['label']"),
    ("corrupt.parquet", lambda: b"PAR1 this is not really parquet", "parquet", None, "cannot read as Parquet"),
    ("truncated.parquet", lambda: parquet_bytes()[:-100], "parquet", None, "does not end with the Parquet magic bytes"),
    ("footer_claims_too_much.parquet", _footer_claims_too_much, "parquet", None, "more than the file holds"),
    ("bad_size_statistics.parquet", _bad_size_statistics, "parquet", None, "Definition level histogram size mismatch"),
    ("zero_bytes.parquet", lambda: b"", "non_empty", None, "the file is empty"),
    ("no_rows.parquet", _no_rows, "non_empty", None, "the file has no rows"),
    ("struct_label.parquet", lambda: parquet_bytes(label=pa.array([{"name": r["label"]} for r in good_rows()])),
     "column_types", None, "column 'label' has type struct<name: string>; expected string"),
    ("list_text.parquet", lambda: parquet_bytes(text=pa.array([[r["text"]] for r in good_rows()])),
     "column_types", None, "column 'text' has type list<element: string>; expected string"),
    ("binary_label_not_utf8.parquet", _binary_label_not_utf8, "utf8", 4, "'label': byte 0xe9 at offset 5"),
    ("duplicate_columns.parquet", lambda: parquet_bytes(group=pa.array([r["text"] for r in good_rows()]),
                                                        names=["text", "label", "text"]),
     "columns", None, "column 'text' appears 2 times"),
    ("duplicate_header.csv", lambda: b"text,label,text\nfine text,positive,other text\n", "columns", 1,
     "column 'text' appears 2 times"),
    ("unclosed_quote.csv", lambda: csv_bytes(good_rows()) + b'"this quote never ends,neutral\nmore,positive\n',
     "csv_syntax", 38, "never closed"),
    ("text_after_quote.csv", lambda: csv_bytes(good_rows()[:3]) + b'"quoted" and then not,neutral\n', "csv_syntax", 5,
     "a closing double quote must be followed by ','"),
    ("short_row.csv", lambda: csv_bytes(good_rows()[:5]) + b"a row without its label\n", "csv_syntax", 7,
     "expected 2 fields (as in the header), found 1"),
    ("utf16_without_bom.csv", _utf16_without_bom, "columns", 1, "UTF-16 without a byte-order mark"),
    ("huge_integer.jsonl", lambda: jsonl_bytes(good_rows()[:1]) + b'{"text": "x", "label": "neutral", "n": '
     + b"9" * 5000 + b"}\n", "jsonl_syntax", 2, "Exceeds the limit (4300 digits)"),
    ("deeply_nested.jsonl", lambda: b'{"text": "x", "label": "neutral", "n": ' + b"[" * 100_000 + b"]" * 100_000
     + b"}\n", "jsonl_syntax", 1, "nested too deeply"),
    ("duplicate_key.jsonl", lambda: jsonl_bytes(good_rows()[:2]) + b'{"text": "a", "label": "neutral", "text": "b"}\n',
     "jsonl_syntax", 3, "the key 'text' appears twice in one object"),
    ("object_text.jsonl", lambda: jsonl_bytes(edit(good_rows(), 6, text={"en": "hello"})), "column_types", 7,
     "'text' is dict, expected string"),
    ("raw_nul_byte.jsonl", lambda: jsonl_bytes(good_rows()[:4]) + b'{"text": "a\x00b", "label": "neutral"}\n',
     "jsonl_syntax", 5, "Invalid control character"),
    ("pretty_printed.jsonl", lambda: json.dumps(good_rows(), indent=2).encode(), "jsonl_syntax", 1,
     "this looks like pretty-printed JSON"),
    ("bom_mid_file.jsonl", lambda: jsonl_bytes(good_rows()) + b"\xef\xbb\xbf" + jsonl_bytes(good_rows()[:1]),
     "jsonl_syntax", 37, "Unexpected UTF-8 BOM"),
    ("notes.xlsx", lambda: b"PK\x03\x04", "format", None, "unsupported extension"),
    ("does_not_exist.csv", None, "exists", None, "file not found"),
]


@pytest.mark.parametrize("name,build,rule,row,fragment", PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_level_rejections_name_file_rule_and_row(tmp_path, name, build, rule, row, fragment):
    path = tmp_path / name
    if build is not None:
        path.write_bytes(build())
    with pytest.raises(DataFileError) as info:
        validate.run_files(PARAMS, [path], "task_b")
    error = info.value
    assert (error.rule, error.row) == (rule, row), str(error)
    message = str(error)
    assert name in message and f"[{rule}]" in message and fragment in message
    if row is not None:
        assert f"row {row}" in message


def test_parquet_with_wrong_column_types_is_rejected(tmp_path):
    path = tmp_path / "wrong_types.parquet"
    _wrong_types_parquet(path)
    with pytest.raises(DataFileError) as info:
        validate.run_files(PARAMS, [path], "task_b")
    assert info.value.rule == "column_types" and "'label' has type int64" in str(info.value)


# ---- content level: (file name, content, the exact set of failing rules, rows named, message text) ----------

def _huge_line() -> bytes:
    return csv_bytes(edit(good_rows(), 7, text="x" * 1_000_000))


def _concatenated_with_boms() -> bytes:
    # Two exported CSVs glued together: the second one's BOM + header become a data row.
    first, second = good_rows()[:18], good_rows()[18:]
    return b"\xef\xbb\xbf" + csv_bytes(first) + b"\xef\xbb\xbf" + csv_bytes(second)


def _class_missing() -> bytes:
    return csv_bytes([r for r in good_rows() if r["label"] != "neutral"])


def _too_few() -> bytes:
    rows = good_rows()
    neutral = [i for i, r in enumerate(rows) if r["label"] == "neutral"]
    return jsonl_bytes([r for i, r in enumerate(rows) if i not in neutral[2:]])


def _text_in_two_splits() -> bytes:
    rows = with_splits(good_rows())
    train_text = rows[0]["text"]
    test_index = next(i for i, r in enumerate(rows) if r["split"] == "test" and r["label"] == rows[0]["label"])
    return csv_bytes(edit(rows, test_index, text=train_text))


def _article_in_two_splits() -> bytes:
    rows = with_splits(good_rows())
    test_index = next(i for i, r in enumerate(rows) if r["split"] == "test")
    return jsonl_bytes(edit(rows, test_index, group=rows[0]["group"]))


def _excel_export_with_typo() -> bytes:
    """Excel's CSV: BOM, CRLF, cells spanning lines (LF inside quotes); the typo's row is the line it is on."""
    rows = good_rows()
    for i in (0, 1):
        rows[i]["text"] += "\nand a second line in the same cell"
    return b"\xef\xbb\xbf" + csv_bytes(edit(rows, 3, label="postive"), line_end="\r\n")


def _null_text_parquet() -> bytes:
    texts: list[str | None] = [r["text"] for r in good_rows()]
    texts[4] = None
    return parquet_bytes(text=pa.array(texts, pa.string()))


CONTENT_CASES: list[tuple[str, Callable[[], bytes], set[str], list[int], str]] = [
    ("null_text.jsonl", lambda: jsonl_bytes(edit(good_rows(), 4, text=None)), {"not_null"}, [5], "null"),
    ("null_label.jsonl", lambda: jsonl_bytes(edit(good_rows(), 9, label=None)), {"not_null"}, [10], "(label)"),
    ("null_text.parquet", _null_text_parquet, {"not_null"}, [5], "null"),
    ("excel_export_with_typo.csv", _excel_export_with_typo, {"label_set"}, [7], "did you mean 'positive' for 'postive'?"),
    ("empty_text.csv", lambda: csv_bytes(edit(good_rows(), 4, text="")), {"blank_text", "text_length"}, [6], "''"),
    ("whitespace_text.jsonl", lambda: jsonl_bytes(edit(good_rows(), 6, text=" \t  ")), {"blank_text"}, [7], "' \\t  '"),
    ("unknown_label.jsonl", lambda: jsonl_bytes(edit(good_rows(), 1, label="angry")), {"label_set"}, [2], "['angry']"),
    ("label_typo.csv", lambda: csv_bytes(edit(good_rows(), 2, label="postive")), {"label_set"}, [4],
     "did you mean 'positive' for 'postive'?"),
    ("label_wrong_case.jsonl", lambda: jsonl_bytes(edit(good_rows(), 0, label="Negative")), {"label_set"}, [1],
     "did you mean 'negative' for 'Negative'?"),
    ("class_missing.csv", _class_missing, {"min_per_class"}, [], "label 'neutral' in all: 0 rows"),
    ("too_few_of_a_class.jsonl", _too_few, {"min_per_class"}, [], "label 'neutral' in all: 2 rows"),
    ("duplicate_text.jsonl", lambda: jsonl_bytes(edit(good_rows(), 8, text=good_rows()[2]["text"])), {"duplicate_text"},
     [3, 9], "2 of 36 rows"),
    ("duplicate_ids.jsonl", lambda: jsonl_bytes([{**r, "id": f"r{min(i, 30)}"} for i, r in enumerate(good_rows())]),
     {"duplicate_id"}, [31, 35], "6 of 36 rows"),
    ("text_in_two_splits.csv", _text_in_two_splits, {"text_leakage"}, [2], "in train (text_in_two_splits.csv row 2), test"),
    ("article_in_two_splits.jsonl", _article_in_two_splits, {"group_leakage"}, [1], "'article0' in train"),
    ("one_mb_line.csv", _huge_line, {"text_length"}, [9], "(1,000,000 chars)"),
    ("too_short.jsonl", lambda: jsonl_bytes(edit(good_rows(), 3, text="x")), {"text_length"}, [4], "within [2, 5000]"),
    ("nul_byte.jsonl", lambda: jsonl_bytes(edit(good_rows(), 10, text="null\u0000byte inside")), {"control_chars"}, [11],
     "\\x00"),
    ("concatenated_with_boms.csv", _concatenated_with_boms, {"control_chars", "label_set"}, [20], "\\ufeff"),
    ("bad_split_name.jsonl", lambda: jsonl_bytes(edit(with_splits(good_rows()), 3, split="dev")),
     {"split_values"}, [4], "'dev'"),
]


@pytest.fixture(scope="module")
def content_results(tmp_path_factory):
    """Every content case in one GX Checkpoint; each file is its own dataset."""
    folder = tmp_path_factory.mktemp("bad_content")
    tables = []
    for name, build, *_ in CONTENT_CASES:
        path = folder / name
        path.write_bytes(build())
        tables.append(read(path, "task_b", dataset=name, name=f"files/{name}", required=USER_COLUMNS))
    report = check(tables, PARAMS)
    return folder, report


@pytest.mark.parametrize("name,build,rules,rows,fragment", CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES])
def test_content_rejections_fail_exactly_the_right_rule(content_results, name, build, rules, rows, fragment):
    folder, report = content_results
    path = str(folder / name)
    failures = [Failure(**f) for f in report["failures"] if path in f["file"]]
    assert {f.rule for f in failures} == rules, [f.line() for f in failures]
    message = summarise(failures)
    assert name in message and fragment in message, message
    for rule in rules:
        assert f"[{rule}]" in message
    for row in rows:
        assert f"row {row}" in message, message
    assert not report["success"]


def test_corpus_has_at_least_twenty_kinds():
    assert len(PARSE_CASES) + 1 + len(CONTENT_CASES) >= 20
    assert len({c[0] for c in PARSE_CASES + CONTENT_CASES}) == len(PARSE_CASES) + len(CONTENT_CASES)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_good_file_passes_in_every_format(tmp_path, fmt):
    path = tmp_path / f"good.{fmt}"
    rows = good_rows()
    if fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    else:
        path.write_bytes(csv_bytes(rows) if fmt == "csv" else jsonl_bytes(rows))
    report = validate.run_files(PARAMS, [path], "task_b")
    assert report["success"] and report["files"][str(path)]["rows"] == 36
    assert report["class_balance"][str(path)]["all"]["neutral"]["count"] == 12


def test_a_folder_is_not_a_file(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataFileError, match=r"folder.csv: \[exists\] not a regular file"):
        validate.run_files(PARAMS, [tmp_path / "folder.csv"], "task_b")


@pytest.mark.parametrize("name,limit,fragments", [
    ("over_the_limit.csv", "2K", ["the file is 2.2 KiB (2,235 bytes), over the limit of 2.0 KiB (2,048 bytes)"]),
    ("decodes_beyond_the_limit.parquet", "20K", ["by its metadata, the 36 rows of column(s) ['text', 'label'] "
                                                 "decode to at least 2.", "MiB", "over the limit of 20.0 KiB"]),
])
def test_files_beyond_the_size_limit_are_refused_unread(tmp_path, monkeypatch, name, limit, fragments):
    """MTST_MAX_FILE_BYTES bounds the file, and what a Parquet file's needed columns decode to (its metadata)."""
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_bytes(csv_bytes(good_rows()))
    else:  # 2 MB of text that zstd stores in a few KB; the unneeded "blob" column is never read
        rows = [{**r, "text": r["text"] + " " + "very " * 12_000} for r in good_rows()]
        pq.write_table(pa.Table.from_pylist(rows).append_column("blob", pa.array(["x" * 10_000] * 36)), path,
                       compression="zstd")
        assert path.stat().st_size < 20_000
    monkeypatch.setenv("MTST_MAX_FILE_BYTES", limit)
    with pytest.raises(DataFileError) as info:
        validate.run_files(PARAMS, [path], "task_b")
    assert info.value.rule == "size" and all(f in str(info.value) for f in fragments), str(info.value)
    assert "set MTST_MAX_FILE_BYTES to raise it" in str(info.value)


def test_a_leading_utf8_bom_is_tolerated(tmp_path):
    """Excel writes a BOM before the header: stripped by the reader, so 'text' is found and no row has U+FEFF."""
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_bytes(good_rows()))
    report = validate.run_files(PARAMS, [path], "task_b")
    assert report["success"], report["failures"]


def test_cli_rejects_a_bad_file_with_exit_2_and_a_summary(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes(csv_bytes(edit(edit(good_rows(), 2, label="postive"), 5, text="   ")))
    proc = subprocess.run([sys.executable, "-m", "mtst.cli", "validate", "--file", str(path), "--task", "task_b"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    # No labels declared: the file's labels are its own, so the typo is a class of one row, with a hint.
    assert "mine.csv" in proc.stderr and "[min_per_class]" in proc.stderr and "[blank_text]" in proc.stderr
    assert "label 'postive' in all: 1 rows (did you mean 'positive' for 'postive'?)" in proc.stderr
    assert "row 7: '   '" in proc.stderr
    assert not (tmp_path / "artifacts").exists()  # --file writes nothing unless --out is given


def test_cli_parse_error_exits_2_naming_file_row_and_rule(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_bytes(jsonl_bytes(good_rows()[:3]) + b"{oops\n")
    proc = subprocess.run([sys.executable, "-m", "mtst.cli", "validate", "--file", str(path), "--task", "task_b"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mine.jsonl, row 4: [jsonl_syntax]" in proc.stderr
