"""Users' own CSV / JSONL / Parquet files: read, split, and rejected with file + row + rule when bad."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtst.config import ConfigError, DataParams, SentimentSource, TopicSource
from mtst.data import limits
from mtst.data.files import DataFileError, load, read_table, read_text
from mtst.steps import fetch


def _rows(n: int = 60):
    labels = ["alpha", "beta", "gamma"]
    return [{"text": f"sentence number {i} about {labels[i % 3]} things", "label": labels[i % 3]} for i in range(n)]


def test_reads_csv_jsonl_parquet_identically(tmp_path):
    frame = pd.DataFrame(_rows())
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in _rows()) + "\n")
    frame.to_parquet(tmp_path / "d.parquet")
    loaded = [read_table(tmp_path / f"d.{ext}")[["text", "label"]] for ext in ("csv", "jsonl", "parquet")]
    for other in loaded[1:]:
        pd.testing.assert_frame_equal(loaded[0], other)


def test_fetch_uses_user_files_and_splits_them(tmp_path):
    pd.DataFrame(_rows(90)).to_csv(tmp_path / "topics.csv", index=False)
    pd.DataFrame(_rows(60)).to_parquet(tmp_path / "sent.parquet")
    params = DataParams(topic=TopicSource(path=str(tmp_path / "topics.csv")),
                        sentiment=SentimentSource(path=str(tmp_path / "sent.parquet")))
    summary = fetch.run(params, tmp_path / "out")
    assert summary["task_a"]["rows"] == 90 and summary["task_b"]["rows"] == 60
    assert all(summary["task_a"]["splits"][s]["total"] > 0 for s in ("train", "validation", "test"))


@pytest.mark.parametrize("name,content,rule,row", [
    ("missing.csv", "text,category\nhello there,a\n", "columns", 1),
    ("semicolon.csv", "text;label\nhello there;a\n", "columns", 1),
    ("empty.csv", "", "non_empty", None),
    ("header.csv", "text,label\n", "non_empty", None),
    ("broken.jsonl", '{"text": "fine", "label": "a"}\n{"text": "broken\n', "jsonl_syntax", 2),
    ("latin1.csv", b"text,label\nok row,a\ncaf\xe9,a\n", "utf8", 3),
    ("notes.xlsx", "x", "format", None),
])
def test_bad_files_name_file_row_and_rule(tmp_path, name, content, rule, row):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataFileError) as info:
        read_table(path)
    assert info.value.rule == rule and info.value.row == row
    assert name in str(info.value)


def test_semicolon_header_gets_a_delimiter_hint(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("text;label\nhello;a\n")
    with pytest.raises(DataFileError, match="';'-delimited"):
        read_table(path)


# ---- what common tools write is accepted, value for value ------------------------------------------------

UNICODE_TEXTS = ["line\u2028separator", "paragraph\u2029separator", "next\u0085line", "info\x1cseparators\x1d\x1e",
                 "vertical\x0btab and form\x0cfeed", "emoji \U0001f600, CJK \u6f22\u5b57, RTL \u202e", "nul\x00inside",
                 "a \"quoted\", comma", "carriage\rreturn and\nnewline", "  padded  "]


def _unicode_rows() -> list[dict]:
    return [{"text": t, "label": f"l{i % 3}"} for i, t in enumerate(UNICODE_TEXTS)]


@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_jsonl_strings_hold_any_unicode_and_only_lf_ends_a_line(tmp_path, ensure_ascii):
    """U+2028/U+2029/U+0085 are raw in a json.dumps(ensure_ascii=False) line: text, not line breaks."""
    path = tmp_path / "unicode.jsonl"
    lines = [json.dumps(r, ensure_ascii=ensure_ascii) for r in _unicode_rows()]
    path.write_bytes("\r\n".join(lines[:5] + [""] + lines[5:]).encode())  # CRLF, a blank line, no final newline
    loaded = load(path)
    assert loaded.frame["text"].tolist() == UNICODE_TEXTS
    assert loaded.rows == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]


def test_excel_csv_export_with_bom_crlf_and_multiline_cells(tmp_path):
    """Excel: a UTF-8 BOM, CRLF between records, LF (Alt+Enter) inside quoted cells, doubled quotes."""
    path = tmp_path / "export.csv"
    path.write_bytes(b'\xef\xbb\xbftext,label\r\n"first line\nsecond line",a\r\n"say ""hi"", then go",b\r\n'
                     b'"three\nline\ncell",c\r\nplain,a\r\n')
    loaded = load(path)
    assert loaded.frame["text"].tolist() == ["first line\nsecond line", 'say "hi", then go', "three\nline\ncell", "plain"]
    assert loaded.frame["label"].tolist() == ["a", "b", "c", "a"]
    assert loaded.rows == [2, 4, 5, 8]  # the line each record starts on, as an editor shows it


def test_csv_and_tsv_round_trip_any_unicode(tmp_path):
    frame = pd.DataFrame(_unicode_rows())
    for name, sep in (("u.csv", ","), ("u.tsv", "\t")):
        frame.to_csv(tmp_path / name, index=False, sep=sep, lineterminator="\r\n")  # quotes CR and LF cells
        assert read_table(tmp_path / name)["text"].tolist() == UNICODE_TEXTS


def _text_layouts() -> dict[str, Callable[[list[str]], pa.Array]]:
    layouts: dict[str, Callable[[list[str]], pa.Array]] = {
        name: (lambda t, name=name: pa.array(t, getattr(pa, name)()))
        for name in ("string", "large_string", "string_view")}
    layouts.update({name: (lambda t, name=name: pa.array([v.encode() for v in t], getattr(pa, name)()))
                    for name in ("binary", "large_binary", "binary_view")})
    layouts["dictionary"] = lambda t: pa.array(t).dictionary_encode()
    layouts["large_dictionary"] = lambda t: pa.array(t, pa.large_string()).dictionary_encode()
    return layouts


ENCODINGS: dict[str, dict] = {
    "plain": {"use_dictionary": False}, "dictionary": {"use_dictionary": True},
    "delta_byte_array": {"use_dictionary": False, "column_encoding": "DELTA_BYTE_ARRAY"},
    "delta_length_byte_array": {"use_dictionary": False, "column_encoding": "DELTA_LENGTH_BYTE_ARRAY"}}
CODECS = ["snappy", "gzip", "zstd", "brotli", "lz4", "none"]


@pytest.mark.parametrize("layout", list(_text_layouts()))
def test_parquet_from_pyarrow_in_every_string_layout_encoding_and_codec(tmp_path, layout):
    rows = _unicode_rows()
    make = _text_layouts()[layout]
    table = pa.table({"text": make([r["text"] for r in rows]), "label": make([r["label"] for r in rows]),
                      "score": pa.array(range(len(rows)), pa.int64()),
                      "meta": pa.array([{"tags": ["x"], "n": i} for i in range(len(rows))])})
    for encoding, options in ENCODINGS.items():
        if "column_encoding" in options and layout.endswith("dictionary"):
            continue  # the writer stores dictionary arrays with a dictionary
        options = {**options, "column_encoding": {"text": options["column_encoding"], "label": options["column_encoding"]}
                   } if "column_encoding" in options else options
        for codec in CODECS:
            path = tmp_path / f"{encoding}-{codec}.parquet"
            pq.write_table(table, path, compression=codec, row_group_size=4, **options)
            frame = read_table(path)
            assert frame["text"].tolist() == UNICODE_TEXTS, (encoding, codec)
            assert frame["label"].tolist() == [r["label"] for r in rows] and frame["score"].tolist() == list(range(10))
            assert frame["meta"].iloc[3] == {"tags": ["x"], "n": 3}


@pytest.mark.parametrize("dtype", ["object", "category", "string[python]", "string[pyarrow]", "str"])
def test_parquet_from_pandas_in_every_string_dtype(tmp_path, dtype):
    frame = pd.DataFrame(_unicode_rows()).astype({"text": dtype, "label": dtype})
    path = tmp_path / "pandas.parquet"
    frame.set_index(pd.Index(range(100, 110))).to_parquet(path)  # a stored index is not a column of the data
    loaded = read_table(path)
    assert list(loaded.columns) == ["text", "label"]
    assert loaded["text"].tolist() == UNICODE_TEXTS and loaded["label"].tolist() == ["l0", "l1", "l2"] * 3 + ["l0"]


def test_parquet_rows_are_counted_across_row_groups(tmp_path):
    texts = [f"sentence {i}" for i in range(10)]
    texts[7] = None
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table({"text": texts, "label": ["a"] * 10}), path, row_group_size=3)
    with pytest.raises(DataFileError) as info:
        read_table(path)
    assert (info.value.rule, info.value.row) == ("not_null", 8)


def test_rows_are_file_lines_past_blank_lines_and_multiline_cells(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text('text,label\n"two\nlines",a\n\nfine,b\nbad,\n', newline="")
    loaded = load(path)
    assert loaded.rows == [2, 5, 6] and loaded.frame["label"].tolist() == ["a", "b", ""]


# ---- only the needed columns, and nothing over the size limit -----------------------------------------------


def _bomb(path, rows: int = 2_000, width: int = 10_000, **options) -> None:
    """A few KiB on disk that decode to ``rows * width`` bytes: one long value repeated in an extra column."""
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(rows)], "label": ["a"] * rows,
                             "blob": ["x" * width] * rows}), path, compression="zstd", **options)


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.jsonl"
    with path.open("wb") as handle:  # 3 GiB that take no disk space: reading them would take seconds and memory
        handle.truncate(3 << 30)
    with pytest.raises(DataFileError, match=r"the file is 3.0 GiB .* over the limit of 1.0 GiB") as info:
        read_table(path)
    assert info.value.rule == "size" and "MTST_MAX_FILE_BYTES" in str(info.value)
    small = tmp_path / "small.csv"
    small.write_text("text,label\n" + "some words,a\n" * 100)
    assert len(read_table(small)) == 100
    monkeypatch.setenv("MTST_MAX_FILE_BYTES", "1K")
    with pytest.raises(DataFileError, match=r"the file is 1.3 KiB \(1,311 bytes\), over the limit of 1.0 KiB"):
        read_table(small)
    assert len(read_table(small, max_bytes=2_000)) == 100  # the keyword wins over the environment


def test_the_limit_from_the_environment_must_be_a_size(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nhello,a\n")
    monkeypatch.setenv("MTST_MAX_FILE_BYTES", "lots")
    with pytest.raises(ConfigError, match="MTST_MAX_FILE_BYTES='lots' is not a size"):
        read_table(path)
    for value, expected in (("500", 500), ("2k", 2048), ("3 MiB", 3 << 20), ("1G", 1 << 30)):
        monkeypatch.setenv("MTST_MAX_FILE_BYTES", value)
        assert limits.max_bytes() == expected


def test_parquet_whose_metadata_decodes_beyond_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.parquet"
    _bomb(path, use_dictionary=False)
    assert path.stat().st_size < 100_000  # 20 MB of values in well under 100 KB
    with pytest.raises(DataFileError, match=r"by its metadata, the 2,000 rows of column\(s\) \['text', 'label', 'blob'\] "
                                            r"decode to at least 19.\d MiB") as info:
        read_table(path, max_bytes=5_000_000)
    assert info.value.rule == "size"
    # Only the needed columns are read: without the blob, the same file is small.
    assert len(read_table(path, optional=(), max_bytes=5_000_000)) == 2_000


def _varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
    return out + bytes([n])


def test_dictionary_expansion_is_measured_before_it_happens(tmp_path):
    """pyarrow writes each column's decoded size (SizeStatistics); older writers do not, and a hostile footer
    can understate it. The dictionary-encoded blob is then measured as read, before it is expanded."""
    path = tmp_path / "dict_bomb.parquet"
    _bomb(path, use_dictionary=True)
    data = path.read_bytes()
    # The footer's unencoded_byte_array_data_bytes (field 1, i64, zigzag varint) of the blob: 20,000,000 -> 0,
    # written as a padded varint of the same length so that no offset moves.
    stated = b"\x16" + _varint(20_000_000 * 2)
    assert data.count(stated) == 1
    path.write_bytes(data.replace(stated, b"\x16" + b"\x80" * (len(stated) - 2) + b"\x00"))
    assert len(read_table(path, max_bytes=50_000_000)) == 2_000  # still a good file
    # Refused as read ("by row group 0"), not by its metadata, which now understates it; never expanded.
    with pytest.raises(DataFileError, match=r"decode to more than the limit of 4.8 MiB \(5,000,000 bytes\) "
                                            r"\(by row group 0\)") as info:
        read_table(path, max_bytes=5_000_000)
    assert info.value.rule == "size"


# ---- the commands: exit code 2 and the message, never a traceback -------------------------------------------

MTST = str(Path(sys.executable).with_name("mtst"))


@pytest.mark.parametrize("args,name,content,env,expected", [
    (["validate", "--task", "task_b", "--file"], "cut.parquet", b"PAR1" + b"\0" * 40, {},
     "cut.parquet: [parquet] cannot read as Parquet: the file does not end with the Parquet magic bytes"),
    (["predict", "--output", "out.jsonl", "--model", "no-such-model", "--input"], "deep.jsonl",
     b'{"text": "fine", "label": "a"}\n{"text": ' + b"[" * 50_000 + b"}\n", {},
     "deep.jsonl, row 2: [jsonl_syntax] not valid JSON here: nested too deeply"),
    (["embed", "--out", "out.jsonl", "--file"], "open.csv", b'text\nfine\n"never closed\n', {},
     "open.csv, row 3: [csv_syntax] a quoted field that starts in this row is never closed"),
    (["validate", "--task", "task_b", "--file"], "fine.csv", b"text,label\n" + b"good words,positive\n" * 20,
     {"MTST_MAX_FILE_BYTES": "100"}, "fine.csv: [size] the file is 411 bytes, over the limit of 100 bytes"),
    (["validate", "--task", "task_b", "--file"], "fine.csv", b"text,label\ngood words,positive\n",
     {"MTST_MAX_FILE_BYTES": "lots"}, "MTST_MAX_FILE_BYTES='lots' is not a size"),
], ids=["validate-truncated-parquet", "predict-deep-json", "embed-unclosed-quote", "size-limit", "bad-size-limit"])
def test_commands_refuse_bad_files_with_exit_2_and_no_traceback(tmp_path, args, name, content, env, expected):
    (tmp_path / name).write_bytes(content)
    proc = subprocess.run([MTST, *args, name], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and f"error: {expected}" in proc.stderr, proc.stderr
    assert not (tmp_path / "out.jsonl").exists()  # the bad input stopped the command before any output


def test_plain_text_gets_the_same_checks(tmp_path):
    """``read_text``: what ``mtst embed --file sentences.txt`` needs — UTF-8, the size limit, rows named."""
    path = tmp_path / "sentences.txt"
    path.write_bytes("\ufefffirst\u2028still the first\nsecond\n".encode())
    assert read_text(path).split("\n") == ["first\u2028still the first", "second", ""]
    path.write_bytes(b"fine\ncaf\xe9 au lait\n")
    with pytest.raises(DataFileError) as info:
        read_text(path)
    assert (info.value.rule, info.value.row) == ("utf8", 2)
    with pytest.raises(DataFileError, match=r"\[size\] the file is 18 bytes, over the limit of 4 bytes"):
        read_text(path, max_bytes=4)
