"""comparison.md from its template, comparison.json through its contract, and the row order, over eval folders
written in the evaluate contract (no model needed: compare reads only those files when it does not time
models side by side). ``golden/comparison.md`` was rendered by the string-concatenation renderer this
template replaced, from the same folders: the report's text did not change."""

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
from mtst.contracts.comparison import Comparison, NotRegistered, RegistryOutcome, read_predictions

GOLDEN = Path(__file__).parent / "golden" / "comparison.md"
LABELS = {"task_a": ["business", "politics", "sports"], "task_b": ["negative", "neutral", "positive"]}
DOMAINS = ["tweets", "movie", "amazon", "nyt"]
PARAMS = CompareParams(bootstrap=200)
# variant: (tasks, Task A / Task B macro-F1, accuracy of its predictions, params that differ, training seconds)
VARIANTS = {
    "frozen": (["task_a", "task_b"], 0.80, 0.60, 0.7, {}, 30.0),
    "staged": (["task_a", "task_b"], 0.84, 0.66, 0.8, {"loss_weights": {"task_b": 2.0}}, 90.5),
    "staged_aug": (["task_a", "task_b"], 0.83, 0.69, 0.8, {"loss_weights": {"task_b": 2.0}, "augment": True}, 120.0),
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
    assert "Not available: no `staged` variant was evaluated." in md
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
    assert [r.variant for r in load_results(eval_dirs)] == [  # undeclared: by name, the staged_* ablations last
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
