"""The Data Docs site of `mtst validate`, opened from disk in headless Chromium with no network: the index lists
every validation result by the file it checked, styled, and each result page names its file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import helpers.browser
from helpers.browser import CHROMIUM, Chromium
from mtst.config import PrepareParams, ValidateParams
from mtst.steps import prepare, validate

SMALL = PrepareParams(task_a_train_limit=300, task_b_train_limit=200, validation_limit=100, test_limit=200)
# Any request to another host fails: a dead proxy, no name resolution, and DevTools' offline mode on top.
OFFLINE_FLAGS = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
# Every URL the page loaded or tried to load (resources, plus the elements that name one).
LOADED_URLS = """[...performance.getEntriesByType('resource').map(e => e.name),
  ...[...document.querySelectorAll('script[src], img[src]')].map(e => e.src),
  ...[...document.querySelectorAll('link[href]')].map(e => e.href)]"""


@pytest.fixture(scope="module")
def site(data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("data_docs_offline")
    prepare.run(SMALL, data_dir, root / "splits")
    report = validate.run(ValidateParams(), root / "splits", root / "validation", data_dir)
    return root / "validation" / "data_docs", report


@pytest.fixture
def offline_browser(monkeypatch):
    if not shutil.which("chromium") and not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: `make test` installs it (make browser)")
    monkeypatch.setattr(helpers.browser, "FLAGS", [*helpers.browser.FLAGS, *OFFLINE_FLAGS])
    chromium = Chromium()
    chromium.call("Network.enable")
    chromium.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                  uploadThroughput=-1)
    yield chromium
    chromium.close()


def open_page(browser: Chromium, url: str, needle: str) -> str:
    browser.open(url)
    return browser.wait_for_text(needle, timeout=30)


def assert_local_and_styled(browser: Chromium, selector: str, tmp_path: Path, name: str) -> None:
    browser.screenshot(tmp_path / f"{name}.png")
    urls = browser.evaluate(LOADED_URLS)
    assert urls and all(u.startswith("file://") for u in urls), [u for u in urls if not u.startswith("file://")]
    # Bootstrap's alert colours and collapsed table borders come only from the inlined mtst_offline.css.
    style = browser.evaluate(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
        const s = getComputedStyle(e); return [s.backgroundColor, s.borderTopStyle, s.paddingTop]; }})()""")
    assert style == ["rgb(226, 227, 229)", "solid", "12px"], style


def test_index_lists_every_result_by_its_file_offline(site, offline_browser, tmp_path):
    docs, report = site
    batches = report["batches"].values()
    files = [stats["file"] for stats in batches]
    # GX fails a result on any unmet expectation, warnings (the one U+FFFD in the BBC corpus) included.
    expected = sorted((stats["file"], "Failed" if stats["failed"] else "Success") for stats in batches)
    assert any(f.endswith(str(Path("splits") / "task_a" / "train.jsonl")) for f in files)

    text = open_page(offline_browser, (docs / "index.html").resolve().as_uri(), files[0])
    assert_local_and_styled(offline_browser, ".alert-secondary", tmp_path, "index")
    rows = offline_browser.evaluate("""[...document.querySelectorAll('#Validation-Results tbody tr')].map(r =>
        [r.querySelector('td.mtst-asset_name').innerText, r.querySelector('td.mtst-asset_name a').href,
         r.querySelector('td.mtst-validation_success').innerText.trim()])""")
    assert sorted((name, status.split()[-1]) for name, _, status in rows) == expected
    for file in files:
        assert file in text, f"{file} is not shown on the index"
    assert offline_browser.evaluate("getComputedStyle(document.querySelector('.mtst-index-table td')).borderTopStyle") \
        == "solid"

    # Each row links to its result page, which names the checked file (GX said "Data asset: None").
    name, link, _ = next(row for row in rows if row[0].endswith("train.jsonl"))
    page = open_page(offline_browser, link, "Data asset:")
    assert f"Data asset: {name}" in page
    assert_local_and_styled(offline_browser, ".alert-secondary", tmp_path, "result")


def test_staged_copies_are_named_after_the_file(site):
    docs, report = site
    index = (docs / "index.html").read_text(encoding="utf-8")
    for stats in report["batches"].values():
        assert f'"data_asset_name": "{stats["file"]}"' in index
    assert "splits_task_a_train.jsonl.parquet" in index and "<script src=" not in index
