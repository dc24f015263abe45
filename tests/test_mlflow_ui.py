"""End to end in headless Chromium (Debian `chromium`, installed by `make test`): the MLflow UI of a real server
lists the pipeline run and, expanded, every freeze variant's run; the registry shows the champion alias."""

from __future__ import annotations

import os
import shutil

import pytest

from helpers.browser import CHROMIUM, Chromium

EXPANDER = 'button[data-component-id*="runnamecellrenderer"]'


@pytest.fixture
def browser():
    if not shutil.which("chromium") and not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: `make test` installs it (make browser)")
    chromium = Chromium()
    yield chromium
    chromium.close()


def test_experiment_page_lists_the_variant_runs(tracked_pipeline, browser, tmp_path):
    from mlflow import MlflowClient

    parent_id = tracked_pipeline.evaluations["frozen"]["mlflow"]["parent_run_id"]
    experiment_id = tracked_pipeline.evaluations["frozen"]["mlflow"]["experiment_id"]
    parent_name = MlflowClient(tracking_uri=tracked_pipeline.uri).get_run(parent_id).info.run_name

    browser.open(f"{tracked_pipeline.uri}/#/experiments/{experiment_id}/runs")
    text = browser.wait_for_text(parent_name[:16], timeout=60)  # the pipeline run, children collapsed under it
    assert "Training runs" in text
    browser.wait_for_selector(EXPANDER, timeout=30)  # the parent row's expander, once its children loaded
    assert browser.click_all(EXPANDER) >= 1
    try:
        text = browser.wait_for_text(*tracked_pipeline.eval_dirs, timeout=30)
    finally:
        browser.screenshot(tmp_path / "experiment.png")
    for variant in tracked_pipeline.eval_dirs:
        assert variant in text.split(), f"{variant} missing from the runs table"


def test_registry_page_shows_the_champion_alias(tracked_pipeline, browser):
    browser.open(f"{tracked_pipeline.uri}/#/models/mtst-multitask")
    text = browser.wait_for_text("mtst-multitask", "champion", timeout=60)
    assert "Version 1" in text or "version 1" in text.lower()
