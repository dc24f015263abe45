"""Users' own CSV / JSONL / Parquet files: read, split, and rejected with file + row + rule when bad."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mtst.config import DataParams, SentimentSource, TopicSource
from mtst.data.files import DataFileError, read_table
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
