"""`mtst compare` over really evaluated variants: the table, the multi-task vs separate decision generated from
the numbers, the ablation, the chart, and the champion registered on a real `mlflow server`."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from mtst.backends import BACKENDS
from mtst.comparison.decision import decision, select_champion
from mtst.comparison.results import load_results
from mtst.comparison.statistics import macro_f1, paired_bootstrap
from mtst.contracts.comparison import MultitaskVsSeparate, Prediction
from mtst.comparison.errors import ComparisonError

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_table_matches_the_metrics(tracked_pipeline):
    md = (tracked_pipeline.reports / "comparison.md").read_text()
    for variant, folder in tracked_pipeline.eval_dirs.items():
        metrics = json.loads((folder / "metrics.json").read_text())
        row = next(line for line in md.splitlines() if line.startswith(f"| {variant} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        a = f"{100 * metrics['task_a.macro_f1']:.1f}" if "task_a.macro_f1" in metrics else "–"
        b = f"{100 * metrics['task_b.macro_f1']:.1f}" if "task_b.macro_f1" in metrics else "–"
        assert cells[2:4] == [a, b], row
        if "task_b.macro_f1" in metrics:
            assert cells[4] == f"{100 * metrics['task_b.domain.tweets.macro_f1']:.1f}"
    assert "![comparison chart](comparison.png)" in md
    png = (tracked_pipeline.reports / "comparison.png").read_bytes()
    assert png.startswith(PNG) and len(png) > 10_000


def test_decision_paragraph_follows_the_numbers(tracked_pipeline):
    report = json.loads((tracked_pipeline.reports / "comparison.json").read_text())
    mvs, dec = report["multitask_vs_separate"], report["decision"]
    assert mvs["separate_variants"] == ["single_a", "single_b"] and mvs["measured_side_by_side"]
    worse = [t for t, q in mvs["quality"].items() if q["diff"] < -1.0 and q["ci"][1] < 0]
    assert dec["choice"] == ("two separate models" if worse else "one multi-task model")
    md = (tracked_pipeline.reports / "comparison.md").read_text()
    assert dec["text"] in md and md.count("### Decision") == 1
    # the numbers quoted in the paragraph are the table's
    assert f"{mvs['quality']['task_a']['diff']:+.1f} points" in dec["text"]
    assert mvs["multitask"]["parameters"] * 2 == pytest.approx(mvs["separate"]["parameters"], rel=1e-3)
    assert mvs["separate"]["sentences_per_s"] < min(mvs["separate"]["task_a_sentences_per_s"],
                                                   mvs["separate"]["task_b_sentences_per_s"])
    for task in ("task_a", "task_b"):
        metrics = json.loads((tracked_pipeline.eval_dirs[report["champion"]] / "metrics.json").read_text())
        assert mvs["quality"][task]["multitask"] == pytest.approx(metrics[f"{task}.macro_f1"])


def test_ablation_table_names_what_differs(tracked_pipeline):
    report = json.loads((tracked_pipeline.reports / "comparison.json").read_text())
    rows = {r["variant"]: r for r in report["ablation"]["rows"]}
    assert set(rows) == {"staged", "staged_static"}
    assert "loss_weights.task_b: 2.0 → 1.0" in rows["staged_static"]["changes"]
    assert "loss weighting" in report["ablation"]["covered"] and "curriculum" in report["ablation"]["missing"]
    staged = json.loads((tracked_pipeline.eval_dirs["staged"] / "metrics.json").read_text())
    static = json.loads((tracked_pipeline.eval_dirs["staged_static"] / "metrics.json").read_text())
    assert rows["staged_static"]["delta_b"] == pytest.approx(100 * (static["task_b.macro_f1"] - staged["task_b.macro_f1"]))
    assert "## Imbalance ablation" in (tracked_pipeline.reports / "comparison.md").read_text()


def test_champion_is_registered_with_the_alias(tracked_pipeline):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracked_pipeline.uri, registry_uri=tracked_pipeline.uri)
    version = client.get_model_version_by_alias("mtst-multitask", "champion")
    scores = {v: json.loads((d / "metrics.json").read_text()).get("mean_macro_f1")
              for v, d in tracked_pipeline.eval_dirs.items()}
    eligible = {v: s for v, s in scores.items() if s is not None}
    assert set(eligible) == {"frozen", "staged", "staged_static"}  # single-task models cannot serve both tasks
    best = max(eligible, key=eligible.get)
    assert version.tags["mtst.variant"] == best == tracked_pipeline.summary["champion"]
    assert float(version.tags["mtst.selection_value"]) == pytest.approx(eligible[best])
    assert version.run_id == tracked_pipeline.evaluations[best]["mlflow"]["run_id"]


def test_serving_table_and_the_registered_backend(tracked_pipeline):
    """The four default backends serve the champion side by side, each row named for what ran (`openvino-bf16` is
    `openvino` on a CPU without bf16) and the CPU named; the choice follows the rule on the table's numbers, and the
    registered version is the chosen backend's pyfunc, tagged with it."""
    from mlflow import MlflowClient

    from mtst.comparison.serving import Measured, choose
    from mtst.cpu import describe, has_bf16

    report = json.loads((tracked_pipeline.reports / "comparison.json").read_text())
    serving, champion = report["serving"], report["champion"]
    rows = {r["backend"]: r for r in serving["rows"]}
    bf16 = "openvino-bf16" if has_bf16() else "openvino"
    assert serving["variant"] == champion and list(rows) == ["torch", "onnx-int8", bf16, "openvino-int8"]
    assert serving["cpu"] == describe() and f"Measured on {describe()}" in (tracked_pipeline.reports / "comparison.md").read_text()
    assert serving["test_rows"] == {"task_a": 90, "task_b": 90}  # the whole test split of the mini splits
    metrics = json.loads((tracked_pipeline.eval_dirs[champion] / "metrics.json").read_text())
    assert json.loads((tracked_pipeline.eval_dirs[champion] / "variant.json").read_text())["backend"] == "torch"
    for task in ("task_a", "task_b"):  # torch ran the evaluation: its scores are the evaluation's, only timed here
        assert rows["torch"]["macro_f1"][task] == metrics[f"{task}.macro_f1"]
        assert rows[bf16]["macro_f1"][task] == pytest.approx(metrics[f"{task}.macro_f1"], abs=0.05)
        assert all(r["task_sentences_per_s"][task] > 0 for r in rows.values())
    assert rows["onnx-int8"]["size_mb"] < rows[bf16]["size_mb"]  # bf16 runs the fp32 export
    assert rows["openvino-int8"]["size_mb"] < rows[bf16]["size_mb"]  # NNCF's int8 IR, calibrated on validation
    measured = {b: Measured(r["task_sentences_per_s"], r["macro_f1"], r["size_mb"]) for b, r in rows.items()}
    chosen = serving["chosen"]
    assert (chosen, serving["reason"]) == choose(measured, 0.5) and tracked_pipeline.summary["serving_backend"] == chosen
    assert [b for b, r in rows.items() if r["chosen"]] == [chosen]
    md = (tracked_pipeline.reports / "comparison.md").read_text()
    assert f"**Served by {chosen}**" in md and re.search(rf"^\| {re.escape(chosen)} \|.*\| \*\*yes\*\* \|$", md, re.M)

    client = MlflowClient(tracking_uri=tracked_pipeline.uri, registry_uri=tracked_pipeline.uri)
    parent = client.get_run(tracked_pipeline.summary["registered"]["parent_run_id"])
    assert parent.data.tags["mtst.serving_backend"] == chosen
    for backend, row in rows.items():
        assert parent.data.metrics[f"serving.{backend}.task_b.sentences_per_s"] == pytest.approx(row["task_sentences_per_s"]["task_b"])
        assert parent.data.metrics[f"serving.{backend}.task_a.macro_f1"] == pytest.approx(row["macro_f1"]["task_a"])
    version = client.get_model_version("mtst-multitask", tracked_pipeline.summary["registered"]["version"])
    assert version.tags["mtst.backend"] == chosen == report["registry"]["candidate"]["backend"]
    child = client.get_run(tracked_pipeline.evaluations[champion]["mlflow"]["run_id"])
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert logged.source_run_id == child.info.run_id
    assert logged.name == ("model" if chosen == "torch" else f"model-{chosen}")
    if chosen != "torch":
        assert child.data.tags[f"mtst.model_uri.{chosen}"] == version.source


def test_compare_cli_without_tracking(tracked_pipeline, tmp_path):
    from mtst.cli import app

    args = ["compare", "--no-track", "--out", str(tmp_path / "reports"), "--profile", "smoke"]
    for folder in tracked_pipeline.eval_dirs.values():
        args += ["--eval-dir", str(folder)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # stderr: the runtimes' warnings, progress
    assert summary["champion"] == tracked_pipeline.summary["champion"] and summary["registered"] is None
    assert summary["serving_backend"] in BACKENDS  # tracking off: the table is still there
    assert f"**Served by {summary['serving_backend']}**" in (tmp_path / "reports" / "comparison.md").read_text()
    assert {p.name for p in (tmp_path / "reports").iterdir()} >= {"comparison.md", "comparison.png", "comparison.json"}


def test_selection_needs_a_variant_serving_both_tasks(tracked_pipeline, tmp_path):
    singles = [tracked_pipeline.eval_dirs["single_a"], tracked_pipeline.eval_dirs["single_b"]]
    with pytest.raises(ComparisonError, match="no variant serving"):
        select_champion(load_results(singles), "mean_macro_f1")
    broken = tmp_path / "frozen"
    shutil.copytree(tracked_pipeline.eval_dirs["frozen"], broken)
    (broken / "metrics.json").unlink()
    with pytest.raises(ComparisonError, match="no metrics.json"):
        load_results([broken])


def test_fast_macro_f1_and_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    a = np.where(rng.random(400) < 0.8, y, rng.integers(0, 3, 400))
    b = np.where(rng.random(400) < 0.5, y, rng.integers(0, 3, 400))
    assert macro_f1(y, a, 3) == pytest.approx(f1_score(y, a, average="macro"))
    rows = lambda p: [Prediction(id=str(i), label=str(t), predicted=str(q), proba=[])  # noqa: E731
                      for i, (t, q) in enumerate(zip(y, p, strict=True))]
    boot = paired_bootstrap(rows(a), rows(b), 300, 0)
    assert boot.diff == pytest.approx(100 * (f1_score(y, a, average="macro") - f1_score(y, b, average="macro")))
    assert boot.low > 0 and boot.low < boot.diff < boot.high  # 80% vs 50% right: clearly better
    assert paired_bootstrap(rows(a), rows(b)[:100], 300, 0) is None  # not the same test rows


def _mvs(diff_a: float, ci_a: list[float], diff_b: float, ci_b: list[float]) -> MultitaskVsSeparate:
    quality = lambda diff, ci: {"multitask": None, "separate": None, "diff": diff, "ci": ci}  # noqa: E731
    return MultitaskVsSeparate.model_validate({
        "multitask_variant": "staged", "separate_variants": ["single_a", "single_b"],
        "quality": {"task_a": quality(diff_a, ci_a), "task_b": quality(diff_b, ci_b)}, "task_b_domains": {},
        "measured_side_by_side": False,
        "multitask": {"sentences_per_s": 100.0, "parameters": 22.6e6, "memory_mb": 86.0, "size_mb": None, "train_s": 600.0},
        "separate": {"sentences_per_s": 50.0, "parameters": 45.2e6, "memory_mb": 172.0, "size_mb": None, "train_s": 700.0,
                     "task_a_sentences_per_s": None, "task_b_sentences_per_s": None}})


def test_decision_rules():
    tie = decision(_mvs(-0.4, [-1.5, 0.7], 0.8, [-0.9, 2.5]), 1.0)
    assert tie.choice == "one multi-task model" and "2.00× the throughput" in tie.text
    loss = decision(_mvs(-0.2, [-1.0, 0.6], -3.2, [-5.0, -1.4]), 1.0)
    assert loss.choice == "two separate models" and loss.worse == ["task_b"]
    assert re.search(r"Task B \(sentiment\) -3\.2 points \(95% CI -5\.0 to -1\.4\)", loss.text)
    noisy = decision(_mvs(-0.2, [-1.0, 0.6], -3.2, [-7.0, 0.4]), 1.0)  # the interval includes 0: not a loss
    assert noisy.choice == "one multi-task model"
    gain = decision(_mvs(0.1, [-0.5, 0.8], 4.0, [1.5, 6.0]), 1.0)
    assert gain.better == ["task_b"] and "helps the scarce Task B" in gain.text
