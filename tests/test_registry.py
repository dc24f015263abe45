"""The champion alias never regresses silently: `compare` moves it only to a model that beats the champion on the
same test data (or when forced), says so in comparison.md and on the parent run, and `mtst predict` names the
registry version it used. Real evaluations logged to a real (embedded SQLite) MLflow store of the test's own."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from mtst.config import CompareParams, TrackingParams
from mtst.registry import KEPT, PROMOTED, Measured, decide

COMPARE = CompareParams(bootstrap=0, measure_inference=False, serving_backends=[])  # the serving table: test_compare
SAME, OTHER = "a" * 64, "b" * 64


def _m(value: float | None, test: str | None = SAME, version: str = "2", metric: str = "mean_macro_f1",
       data: str = "d1") -> Measured:
    return Measured(version=version, variant="staged", run_id="run", metric=metric, value=value,
                    test_data_hash=test, data_hash=data)


def test_decision_rules():
    champion = _m(0.754, version="1")
    assert decide(_m(0.60), None, False)[0] == PROMOTED  # the first champion
    assert decide(_m(0.80), champion, False) == (PROMOTED, "it beats the champion on the same test data "
                                                           "(mean_macro_f1 0.8000 > 0.7540)")
    assert decide(_m(0.60), champion, False)[0] == KEPT
    assert decide(_m(0.754), champion, False)[0] == KEPT  # a tie does not move it
    # the smoke profile's test split, another dataset, another metric: not comparable, whatever the numbers
    other_test = decide(_m(0.99, test=OTHER), champion, False)
    assert other_test[0] == KEPT and "other test data" in other_test[1]
    assert decide(_m(0.99, data="d2"), champion, False)[0] == KEPT
    assert decide(_m(0.99, metric="task_b.macro_f1"), champion, False)[0] == KEPT
    assert decide(_m(0.99), _m(0.5, test=None, version="1"), False)[0] == KEPT  # registered before the tags existed
    assert decide(_m(0.10, test=OTHER), champion, True)[0] == PROMOTED  # forced
    assert decide(_m(0.754, version="1"), champion, False)[0] == KEPT  # a re-run: already the champion
    # the backend is recorded, not judged: the same numbers served by ONNX int8 decide the same way
    assert decide(_m(0.80).model_copy(update={"backend": "onnx-int8"}), champion, False)[0] == PROMOTED
    assert _m(0.8).tags()["mtst.backend"] == "torch"  # versions registered before the serving table: torch


def _smaller_test_split(mini_splits, root):
    """The same data with a smaller test split (what the smoke profile's test_limit does)."""
    shutil.copytree(mini_splits, root)
    for task in ("task_a", "task_b"):
        path = root / task / "test.jsonl"
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:60]))
    return root


def test_alias_moves_only_to_a_better_model_on_the_same_test_data(train_dirs, mini_splits, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from helpers.pipeline import FAST_EVALUATE
    from mtst.prediction import predict_file
    from mtst.steps import compare, evaluate

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def evaluate_all(variants, splits, name):
        pipeline_id = f"{name}-{uuid.uuid4().hex[:8]}"
        return {v: (tmp_path / name / v, evaluate.run(FAST_EVALUATE, train_dirs[v], splits, tmp_path / name / v,
                                                        tracking=TrackingParams(), pipeline_id=pipeline_id)["mean_macro_f1"])
                for v in variants}

    def compare_(dirs, name, params=COMPARE):
        summary = compare.run(params, dirs, tmp_path / name, tracking=TrackingParams())
        md = (tmp_path / name / "comparison.md").read_text()
        registry = json.loads((tmp_path / name / "comparison.json").read_text())["registry"]
        parent = client.get_run(summary["registered"]["parent_run_id"])
        assert parent.data.tags["mtst.registry_decision"] == registry["decision"] == summary["registered"]["decision"]
        assert parent.data.tags["mtst.registry_champion_version"] == registry["champion"]["version"]
        assert registry["reason"] in md
        return summary["registered"], registry, md, parent

    def alias_version():
        return str(client.get_model_version_by_alias("mtst-multitask", "champion").version)

    default = evaluate_all(["frozen", "staged"], mini_splits, "default")
    worse, better = sorted(default, key=lambda v: default[v][1])
    assert default[worse][1] < default[better][1]

    # the first champion; then a better model on the same test data takes the alias
    first, _, _, _ = compare_([default[worse][0]], "r1")
    assert first["decision"] == PROMOTED and alias_version() == first["version"]
    won, registry, md, parent = compare_([d for d, _ in default.values()], "r2")
    assert won["decision"] == PROMOTED and alias_version() == won["version"] != first["version"]
    assert registry["previous"]["version"] == first["version"] and "**Promoted**" in md
    assert parent.data.metrics["registry.previous_champion_value"] == pytest.approx(default[worse][1])
    version = client.get_model_version("mtst-multitask", won["version"])
    assert version.tags["mtst.test_data_hash"] == registry["candidate"]["test_data_hash"] != "None"
    assert version.tags["mtst.data_hash"] == registry["candidate"]["data_hash"]
    assert version.tags["mtst.backend"] == registry["candidate"]["backend"] == "torch"  # no serving table: evaluate's

    # the smoke-like run, measured on a smaller test split: registered, but the alias stays
    smoke = evaluate_all(["frozen"], _smaller_test_split(mini_splits, tmp_path / "small"), "smoke")
    kept, registry, md, parent = compare_([smoke["frozen"][0]], "r3")
    assert kept["decision"] == KEPT and alias_version() == won["version"] != kept["version"]
    assert "other test data" in registry["reason"] and "**Kept**" in md and f"version {won['version']}" in md
    assert parent.data.metrics["registry.champion_value"] == pytest.approx(default[better][1])
    assert parent.data.metrics["registry.promoted"] == 0
    again, _, _, _ = compare_([smoke["frozen"][0]], "r3b")  # a re-run registers nothing new
    assert again["version"] == kept["version"]
    assert len(client.search_model_versions("name = 'mtst-multitask'")) == 3

    # `mtst predict` without --model follows the alias and names the version it resolved
    (tmp_path / "in.csv").write_text("text\nShares in the bank fell sharply after the results.\n")
    lines: list[str] = []
    out = predict_file("models:/mtst-multitask@champion", tmp_path / "in.csv", tmp_path / "out.jsonl",
                       tracking_params=TrackingParams(), announce=lines.append)
    assert out["model_uri"] == f"models:/mtst-multitask/{won['version']}" and out["model_version"] == won["version"]
    assert json.loads((tmp_path / "out.jsonl").read_text())["model"] == out["model_uri"]
    assert f"models:/mtst-multitask/{won['version']} (resolved from models:/mtst-multitask@champion)" in lines[0]
    assert f"variant {better}" in lines[0]

    # forced: the smoke model takes the alias, and the report says it was forced
    forced, registry, md, _ = compare_([smoke["frozen"][0]], "r4", COMPARE.model_copy(update={"force_champion": True}))
    assert forced["decision"] == PROMOTED and registry["forced"] and alias_version() == kept["version"]
    assert "forced" in registry["reason"] and "**Promoted**" in md


def test_after_a_forced_champion_the_next_compare_settles_on_the_best(tmp_path):
    """A forced alias holds until the next compare on the same test data, which puts it on the best version
    measured there (not merely on its own candidate): the alias ends where any order of compares would leave it."""
    import mlflow
    from mlflow import MlflowClient

    from mtst.registry import settle
    from mtst.tracking import Tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker.open(TrackingParams(experiment="forced"), uri=uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert mlflow.get_registry_uri() == uri

    def compare_(value: float, force: bool = False):
        folder = tmp_path / f"model-{value}"
        folder.mkdir()
        (folder / "MLmodel").write_text("flavors: {}\n")
        run_id = tracker.create_run(f"run-{value}", {})
        tracker.client.log_artifacts(run_id, str(folder), "model")
        candidate = _m(value, version=None).model_copy(update={"run_id": run_id})
        return settle(client, "m", "champion", f"runs:/{run_id}/model", candidate, force)

    best = compare_(0.80)
    forced = compare_(0.60, force=True)
    assert forced.decision == PROMOTED and forced.forced and forced.champion.version == forced.candidate.version
    middle = compare_(0.70)  # beats the forced holder, not the best
    assert middle.decision == KEPT and middle.champion.version == best.candidate.version
    assert f"version {best.candidate.version}" in middle.reason
    assert str(client.get_model_version_by_alias("m", "champion").version) == best.candidate.version
