"""The real datasets: counts from the pinned sources, deterministic output, DVC tracking."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from mtst.data import bbc, vader
from mtst.data.sources import BBC_ARCHIVE, VADER_ARCHIVE, SourceError, ensure_archive
from mtst.io import sha256_file


def test_bbc_articles_deduplicated_with_known_counts():
    articles = bbc.read_articles(ensure_archive(BBC_ARCHIVE))
    # 2,225 files, of which 98 are byte-identical second copies.
    assert len(articles) == 2225 - 98
    counts = Counter(label for _, label, _ in articles)
    assert set(counts) == set(bbc.LABELS)
    raw = {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}
    assert all(counts[k] <= raw[k] for k in raw) and sum(raw.values()) - sum(counts.values()) == 98
    assert len({text for _, _, text in articles}) == len(articles)


def test_bbc_sentences_keep_headline_and_article():
    frame = bbc.load_bbc(ensure_archive(BBC_ARCHIVE))
    assert 35_000 < len(frame) < 45_000  # "about 40k sentences"
    first = frame[frame["group"] == "business/001"]
    assert first.iloc[0]["text"] == "Ad sales boost Time Warner profit"
    assert (first["label"] == "business").all()
    assert frame["text"].str.split().str.len().min() >= 4


@pytest.mark.parametrize("domain,expected", [
    ("tweets", (1087, 768, 2345)), ("movie", (5076, 533, 4996)),
    ("amazon", (1235, 723, 1750)), ("nyt", (1783, 2220, 1187)),
])
def test_vader_counts_match_the_paper_files(domain, expected):
    frame = vader.load_vader(ensure_archive(VADER_ARCHIVE))
    part = frame[frame["domain"] == domain]["label"].value_counts()
    assert (part["negative"], part["neutral"], part["positive"]) == expected


def test_vader_thresholds_are_configurable():
    default = vader.load_vader(ensure_archive(VADER_ARCHIVE))
    narrow = vader.load_vader(ensure_archive(VADER_ARCHIVE), -0.1, 0.1)
    assert (default["label"] == "neutral").sum() == 768 + 533 + 723 + 2220
    assert (narrow["label"] == "neutral").sum() < 1500
    with pytest.raises(ValueError, match="must be below"):
        vader.load_vader(ensure_archive(VADER_ARCHIVE), 0.5, -0.5)


def test_corrupted_archive_is_rejected(tmp_path):
    bad = tmp_path / VADER_ARCHIVE.filename
    bad.write_bytes(b"not the sdist")
    with pytest.raises(SourceError, match="does not match the pinned"):
        ensure_archive(VADER_ARCHIVE, tmp_path)


def test_fetch_is_byte_deterministic_and_matches_data_dvc(tmp_path, data_dir, repo_root):
    from mtst.config import DataParams
    from mtst.steps import fetch

    fetch.run(DataParams(), tmp_path / "again")
    for name in ("task_a.jsonl", "task_b.jsonl", "summary.json"):
        assert sha256_file(tmp_path / "again" / name) == sha256_file(data_dir / name), name
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "data.dvc"], cwd=repo_root,
                            capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert "changed" not in status.stdout, status.stdout
