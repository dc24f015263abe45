"""comparison.md from its template, comparison.json through its contract, and the row order, over eval folders
written in the evaluate contract (no model needed: compare reads only those files when it does not time
models side by side). ``golden/comparison.md`` was rendered by the string-concatenation renderer this
template replaced, from the same folders; since then it changed only where the report gained a part (the
"Over seeds" section, the ablation rows' source)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from mtst.comparison.decision import select_champion
from mtst.comparison.report import build, render_markdown
from mtst.comparison.results import load_results
from mtst.config import CompareParams
from mtst.contracts import ContractError
from mtst.comparison.serving import Measured, choose, rows
from mtst.contracts.comparison import Comparison, NotRegistered, RegistryOutcome, Serving, read_predictions

GOLDEN = Path(__file__).parent / "golden" / "comparison.md"
LABELS = {"task_a": ["business", "politics", "sports"], "task_b": ["negative", "neutral", "positive"]}
DOMAINS = ["tweets", "movie", "amazon", "nyt"]
PARAMS = CompareParams(bootstrap=200, serving_backends=[])  # the golden report predates the serving table
# variant: (tasks, Task A / Task B macro-F1, accuracy of its predictions, params that differ, training seconds)
VARIANTS = {
    "frozen": (["task_a", "task_b"], 0.80, 0.60, 0.7, {}, 30.0),
    "staged": (["task_a", "task_b"], 0.84, 0.66, 0.8, {"loss_weights": {"task_b": 2.0}}, 90.5),
    "staged_aug": (["task_a", "task_b"], 0.83, 0.69, 0.8,
                   {"loss_weights": {"task_b": 2.0}, "augment": True, "ablation_of": "staged"}, 120.0),
    "followup": (["task_a", "task_b"], 0.85, 0.68, 0.8, {"init_from": "staged"}, 20.0),
    "single_a": (["task_a"], 0.86, None, 0.85, {}, 50.0),
    "single_b": (["task_b"], None, 0.70, 0.75, {}, 40.0),
}
ORDER = ["frozen", "staged", "single_a", "single_b", "staged_aug", "followup"]


def write_eval_folder(root: Path, variant: str) -> Path:
    """metrics.json, variant.json and predictions/ as ``mtst evaluate`` writes them, with made-up numbers."""
    tasks, f1_a, f1_b, accuracy, params, wall_s = VARIANTS[variant]
    folder = root / variant
    metrics: dict[str, float | int] = {"train.wall_s": wall_s, "inference.sentences_per_s": 400.0 / len(tasks),
                                       "model.parameters": 22_713_216, "model.memory_mb": 86.6, "model.size_mb": 87.1,
                                       "model.tasks": len(tasks)}
    for task, f1 in (("task_a", f1_a), ("task_b", f1_b)):
        if f1 is not None:
            metrics.update({f"{task}.macro_f1": f1, f"{task}.ece": 0.05 + f1 / 10})
    if f1_b is not None:
        metrics.update({f"task_b.domain.{d}.macro_f1": f1_b - 0.02 * i for i, d in enumerate(DOMAINS)})
    if len(tasks) == 2:
        metrics["mean_macro_f1"] = (f1_a + f1_b) / 2
    info = {"variant": variant, "description": "" if variant == "followup" else f"The {variant} variant.",
            "tasks": tasks, "labels": {t: LABELS[t] for t in tasks}, "train_dir": str(root / "train" / variant),
            "model_dir": str(root / "train" / variant / "model"), "splits_dir": str(root / "splits"),
            "split": "test", "wall_s": wall_s, "augmented": bool(params.get("augment")),
            "params": {"variant": {"description": variant, **params}}}
    (folder / "predictions").mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "variant.json").write_text(json.dumps(info))
    rng = np.random.default_rng(len(variant))
    for task in tasks:
        labels = LABELS[task]
        y = np.random.default_rng(list(LABELS).index(task)).integers(0, 3, 300)  # the same rows for all
        predicted = np.where(rng.random(300) < accuracy, y, rng.integers(0, 3, 300))
        rows = [{"id": f"{task}-{i}", "label": labels[t], "predicted": labels[p], "proba": [0.2, 0.3, 0.5]}
                for i, (t, p) in enumerate(zip(y, predicted, strict=True))]
        (folder / "predictions" / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def eval_dirs(tmp_path: Path) -> list[Path]:
    return [write_eval_folder(tmp_path / "eval", v) for v in reversed(ORDER)]


def _kept_elsewhere() -> RegistryOutcome:
    """The registry kept the alias on an older version; this run's best is registered without it."""
    def model(version: str, variant: str, value: float) -> dict:
        return {"version": version, "variant": variant, "run_id": f"run{version}", "metric": "mean_macro_f1",
                "value": value, "test_data_hash": "0123456789abcdef", "data_hash": "d41d8cd9"}

    return RegistryOutcome.model_validate({
        "decision": "kept", "reason": "it does not beat the champion on the same test data", "forced": False,
        "name": "mtst-multitask", "alias": "champion", "candidate": model("4", "followup", 0.76),
        "previous": model("3", "staged", 0.79), "champion": model("3", "staged", 0.79),
        "champion_uri": "models:/mtst-multitask/3"})


def test_report_text_is_unchanged(eval_dirs):
    results = load_results(eval_dirs, ORDER)
    report = build(results, PARAMS)
    report.registry = _kept_elsewhere()
    assert render_markdown(report, results, PARAMS, "comparison.png") == GOLDEN.read_text(encoding="utf-8")


def test_sections_without_their_variants_and_registry_paragraphs(eval_dirs, tmp_path):
    results = load_results([d for d in eval_dirs if d.name in ("frozen", "followup")], ORDER)
    report = build(results, PARAMS)
    md = render_markdown(report, results, PARAMS, "chart.png")
    assert "Not available: the comparison needs the single-task variants" in md
    assert "Not available: no evaluated variant has an ablation" in md
    assert md.endswith("Tracking is off: nothing was registered and `mtst-multitask@champion` was not touched.\n")
    assert "| followup | A+B | 85.0 | 68.0 | 68.0 | 66.0 | 64.0 | 62.0 | 0.135 | 0.118 | 20 (+ staged) | 200.0 | 22.71 |" in md
    assert "- **followup**: (no description)" in md and "![comparison chart](chart.png)" in md
    report.registry = NotRegistered(decision="not registered", reason="compare.register_champion is off")
    assert "Nothing was registered (compare.register_champion is off);" in render_markdown(report, results, PARAMS, "c")
    promoted = _kept_elsewhere().model_copy(update={"decision": "promoted", "reason": "there was no champion yet",
                                                   "previous": None})
    report.registry = promoted
    text = render_markdown(report, results, PARAMS, "c").split("## Model registry\n\n")[1]
    assert text == ("**Promoted**: `mtst-multitask@champion` now points at `mtst-multitask` version 4 (`followup`, "
                    "mean_macro_f1 0.7600, test-set hash 0123456789ab), because there was no champion yet.\n")


def test_rows_follow_the_declared_order(eval_dirs):
    assert [r.variant for r in load_results(eval_dirs, ["single_b", "frozen"])] == [
        "single_b", "frozen", "followup", "single_a", "staged", "staged_aug"]
    assert [r.variant for r in load_results(eval_dirs)] == [  # undeclared: by name, the ablations last
        "followup", "frozen", "single_a", "single_b", "staged", "staged_aug"]
    tied = [d for d in eval_dirs if d.name in ("staged", "staged_aug")]
    metrics = json.loads((tied[0] / "metrics.json").read_text())
    (tied[1] / "metrics.json").write_text(json.dumps({**json.loads((tied[1] / "metrics.json").read_text()),
                                                      "mean_macro_f1": metrics["mean_macro_f1"]}))
    for order in (["staged", "staged_aug"], ["staged_aug", "staged"]):  # a tie goes to the variant declared first
        assert select_champion(load_results(tied, order), "mean_macro_f1").variant == order[0]


def test_comparison_json_round_trips_and_bad_files_are_named(eval_dirs, tmp_path):
    results = load_results(eval_dirs, ORDER)
    report = build(results, PARAMS)
    report.write(tmp_path / "comparison.json")
    data = json.loads((tmp_path / "comparison.json").read_text())
    assert data["registry"] is None and data["registered"] is None and data["multitask_vs_separate"]["quality"]
    assert isinstance(data["variants"][0]["metrics"]["model.parameters"], int)  # not rewritten as 22713216.0
    assert Comparison.read(tmp_path / "comparison.json") == report
    predictions = eval_dirs[0] / "predictions" / "task_b.jsonl"
    lines = predictions.read_text().splitlines()
    predictions.write_text("\n".join([lines[0], json.dumps({"id": "x", "label": "positive"}), *lines[2:]]) + "\n")
    with pytest.raises(ContractError, match=re.escape(f"{predictions}, line 2: not a valid Prediction (predicted: Field required")):
        read_predictions(predictions)


def test_serving_table_and_its_paragraphs(eval_dirs):
    results = load_results(eval_dirs, ORDER)
    params = CompareParams(bootstrap=0)  # the serving table on: these folders have no model to measure
    report = build(results, params)
    assert report.serving is not None and report.serving.rows == [] and report.serving.chosen is None
    md = render_markdown(report, results, params, "c")
    assert f"## Serving\n\nNot measured: the model folder {eval_dirs[0].parent / 'train' / 'followup' / 'model'} is not " \
           "here; the registered champion keeps the backend its evaluation logged.\n\n## Model registry" in md
    measured = {"torch": Measured({"task_a": 160.0, "task_b": 150.0}, {"task_a": 0.85, "task_b": 0.66}, 87.1),
                "onnx": Measured({"task_a": 180.0, "task_b": 170.0}, {"task_a": 0.85, "task_b": 0.66}, 87.3),
                "onnx-int8": Measured({"task_a": 400.0, "task_b": 330.0}, {"task_a": 0.852, "task_b": 0.64}, 23.4)}
    chosen, reason = choose(measured, 0.5)
    report.serving = Serving(variant="followup", split="test", test_rows={"task_a": 300, "task_b": 200}, batch_size=32,
                             tolerance=0.5, rows=rows(measured, 0.5, chosen), chosen=chosen, reason=reason)
    report.registry = _kept_elsewhere()
    report.registry.candidate.backend = "onnx"
    md = render_markdown(report, results, params, "c")
    table = md.split("## Serving\n\n")[1].split("\n\n")[0].splitlines()
    assert table == [
        "| backend | Task A sentences/s | Task B sentences/s | ratio to torch | Task A macro-F1 | Task B macro-F1 | "
        "change vs torch (points) | size (MB) | chosen |",
        "| --- | --: | --: | --: | --: | --: | --: | --: | :-: |",
        "| torch | 160.0 | 150.0 | 1.00× | 85.0 | 66.0 | +0.00 / +0.00 | 87.1 |  |",
        "| onnx | 180.0 | 170.0 | 1.13× | 85.0 | 66.0 | +0.00 / +0.00 | 87.3 | **yes** |",
        "| onnx-int8 | 400.0 | 330.0 | 2.20× | 85.2 | 64.0 | +0.20 / -2.00 | 23.4 | over tolerance |"]
    assert ("on the whole test split (300 sentences for Task A, 200 sentences for Task B), sentences/s timed on "
            "those same sentences, every backend in turn on each chunk of 256 at batch size 32") in md
    assert f"**Served by onnx**, because {reason}." in md and "onnx-int8 loses 2.00 points on task_b" in reason
    assert "this run's best model is registered as version 4 (`followup`, mean_macro_f1 0.7600, test-set hash " \
           "0123456789ab, served by onnx) without the alias" in md
    report.write(Path(eval_dirs[0].parent / "comparison.json"))
    assert Comparison.read(eval_dirs[0].parent / "comparison.json") == report


def test_the_evaluated_backend_keeps_the_evaluations_scores_only_on_the_same_rows(tmp_path):
    """The serving table takes the macro-F1 of the backend the evaluation ran from the evaluation, and only when
    the split it would score is the one the evaluation scored (label for label, in order)."""
    from mtst.comparison.serving import evaluated_f1

    folder = write_eval_folder(tmp_path / "eval", "staged")
    info = json.loads((folder / "variant.json").read_text())
    (folder / "variant.json").write_text(json.dumps({**info, "backend": "torch"}))
    [result] = load_results([folder])
    tests = {task: ([r.id for r in result.predictions(task)],
                    np.array([LABELS[task].index(r.label) for r in result.predictions(task)]), 3)
             for task in result.tasks}
    assert evaluated_f1(result, ["torch", "onnx"], tests) == {"torch": {"task_a": 0.84, "task_b": 0.66}}
    assert evaluated_f1(result, ["onnx", "onnx-int8"], tests) == {}  # the evaluated backend is not in the table
    changed = {**tests, "task_b": (tests["task_b"][0], np.roll(tests["task_b"][1], 1), 3)}
    assert evaluated_f1(result, ["torch", "onnx"], changed) == {}  # the split was prepared again since
    (folder / "variant.json").write_text(json.dumps(info))  # an evaluation from before variant.json had a backend
    assert evaluated_f1(load_results([folder])[0], ["torch", "onnx"], tests) == {}
