"""End to end in headless Chromium (Debian `chromium`, installed by `make test`): the MLflow UI of a real server,
opened on the URL `mtst ui` prints, shows the experiment's training runs (not the GenAI overview) with the key
test metrics as columns, the pipeline run and, expanded, every freeze variant's run with the splits it trained
and was tested on in the Dataset column; the registry shows the champion alias. Screenshots go to the test's
tmp_path."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from helpers.browser import CHROMIUM, Chromium

EXPANDER = 'button[data-component-id*="runnamecellrenderer"]'
# MLflow 3.17's side nav: the GenAI view (a browser's default, whatever the experiment's kind) lists these;
# the machine-learning view lists Runs, Models, Traces and the Model registry
GENAI_NAV = ("Overview", "Evaluation runs", "Agent versions")


@pytest.fixture
def browser():
    if not shutil.which("chromium") and not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: `make test` installs it (make browser)")
    chromium = Chromium()
    yield chromium
    chromium.close()


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_variant_runs_have_the_splits_as_dataset_inputs(tracked_pipeline, mini_splits):
    from mlflow import MlflowClient

    from helpers.training import RECIPES

    client = MlflowClient(tracking_uri=tracked_pipeline.uri)
    for variant, evaluation in tracked_pipeline.evaluations.items():
        run = client.get_run(evaluation["mlflow"]["run_id"])
        got = {(i.dataset.name, {t.key: t.value for t in i.tags}["mlflow.data.context"], i.dataset.digest)
               for i in run.inputs.dataset_inputs}
        tasks = RECIPES[variant].tasks  # the fixture variants train every head they have, none augmented
        expected = {(f"{task}/{split}", context, _md5(mini_splits / task / f"{split}.jsonl"))
                    for task in tasks for split, context in (("train", "training"), ("test", "testing"))}
        assert got == expected, variant


def test_experiment_page_opens_on_the_training_runs_compared(tracked_pipeline, mini_splits, browser, tmp_path):
    from mlflow import MlflowClient

    from mtst.tracking.view import KEY_METRICS, KIND_TAG, VIEW_TAG, runs_url

    client = MlflowClient(tracking_uri=tracked_pipeline.uri)
    parent_id = tracked_pipeline.evaluations["frozen"]["mlflow"]["parent_run_id"]
    experiment_id = tracked_pipeline.evaluations["frozen"]["mlflow"]["experiment_id"]
    tags = client.get_experiment(experiment_id).tags
    assert tags[KIND_TAG] == "custom_model_development" and VIEW_TAG in tags
    parent_name = client.get_run(parent_id).info.run_name

    browser.open(f"{tracked_pipeline.uri}/#/experiments/{experiment_id}/runs")  # without the URL's settings:
    browser.wait_for_text(*GENAI_NAV, timeout=60)                                # the GenAI view
    browser.call("Emulation.setDeviceMetricsOverride", width=1920, height=1000, deviceScaleFactor=1, mobile=False)
    browser.open(runs_url(tracked_pipeline.uri, experiment_id))  # what `mtst ui` prints
    try:
        text = browser.wait_for_text(parent_name[:16], "Model registry", *KEY_METRICS, timeout=60)
        assert not [item for item in GENAI_NAV if item in text.splitlines()], "the GenAI view, not the training runs"
        browser.wait_for_selector(EXPANDER, timeout=30)  # the parent row's expander, once its children loaded
        assert browser.click_all(EXPANDER) >= 1
        dataset_cells = (f"task_a/train ({_md5(mini_splits / 'task_a' / 'train.jsonl')})", "Training",
                         f"task_b/test ({_md5(mini_splits / 'task_b' / 'test.jsonl')})", "Testing")  # name (digest)
        text = browser.wait_for_text(*tracked_pipeline.eval_dirs, *dataset_cells, timeout=30)
    finally:
        browser.screenshot(tmp_path / "experiment.png")
    for variant in tracked_pipeline.eval_dirs:
        assert variant in text.split(), f"{variant} missing from the runs table"
    assert "/runs" in browser.evaluate("location.hash")  # still the training runs once the page settled


def test_registry_page_shows_the_champion_alias(tracked_pipeline, browser):
    browser.open(f"{tracked_pipeline.uri}/#/models/mtst-multitask")
    text = browser.wait_for_text("mtst-multitask", "champion", timeout=60)
    assert "Version 1" in text or "version 1" in text.lower()
