"""The Task B learning curve: a 2-point grid (one size, one seed, `frozen` and `single_b`) on the smoke profile,
end to end through `mtst curve` with real training, evaluation and an SQLite MLflow store; then the interval,
verdict and paragraph logic on constructed numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mtst.config import deep_merge, read_params_dict
from mtst.curve.summary import compare, interval, summarize

VARIANTS = ["frozen", "single_b"]
# the smoke profile, smaller still so the grid trains in about a minute on 2 CPU cores
FASTER = {"prepare": {"task_a_train_limit": 200, "validation_limit": 60, "test_limit": 90},
          "train": {"max_steps_per_stage": 8}, "evaluate": {"throughput_sentences": 16}}


@pytest.fixture(scope="module")
def curve_run(repo_root: Path, data_dir: Path, tmp_path_factory):
    from mtst.cli import app

    work = tmp_path_factory.mktemp("curve")
    params = work / "params.yaml"
    params.write_text(yaml.safe_dump(deep_merge(read_params_dict(repo_root / "params.yaml", "smoke"), FASTER)))
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "MTST_EMBEDDING_CACHE": str(work / "cache"),
           "NLTK_DATA": str(repo_root / ".cache" / "nltk_data")}
    args = ["curve", "--params", str(params), "--sizes", "100", "--seeds", "13", "--data", str(data_dir),
            "--root", str(work / "points"), "--out", str(work / "reports"),
            *[a for v in VARIANTS for a in ("--variants", v)]]
    runner = CliRunner()
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    stamps = {p: p.stat().st_mtime_ns for p in (work / "points").rglob("result.json")}
    second = runner.invoke(app, args, env=env)
    assert second.exit_code == 0, second.output
    return {"work": work, "env": env, "first": json.loads(first.stdout), "second": json.loads(second.stdout),
            "stamps": stamps}


def test_curve_numbers_are_the_points_metrics(curve_run):
    work = curve_run["work"]
    curve = json.loads((work / "reports" / "learning_curve.json").read_text())
    assert len(curve["points"]) == 2 and curve["variants"] == VARIANTS
    for point in curve["points"]:
        folder = work / "points" / "100-13" / point["variant"]
        metrics = json.loads((folder / "eval" / "metrics.json").read_text())
        assert point == json.loads((folder / "result.json").read_text())
        assert point["task_b_macro_f1"] == metrics["task_b.macro_f1"] and point["task_b_train_rows"] == 100
        assert point["task_a_macro_f1"] == metrics.get("task_a.macro_f1")
        row = next(r for r in curve["rows"] if r["variant"] == point["variant"])
        assert row["task_b_macro_f1"] == {"n": 1, "mean": point["task_b_macro_f1"], "low": None, "high": None}
    assert curve["points"][1]["task_a_macro_f1"] is None  # single_b serves Task B only
    # the two variants shared the prepared splits of their size and seed; only single_b needed augmentation
    shared = work / "points" / "100-13"
    assert sorted(p.name for p in shared.iterdir()) == ["augmented", "data_params.json", "frozen", "single_b", "splits"]


def test_report_has_the_table_the_paragraph_and_the_plot(curve_run):
    reports = curve_run["work"] / "reports"
    md = (reports / "learning_curve.md").read_text()
    curve = json.loads((reports / "learning_curve.json").read_text())
    assert "| Task B rows | variant | seeds | Task B macro-F1 | Task A macro-F1 |" in md
    for point in curve["points"]:
        assert f"| 100 | {point['variant']} | 1 | {100 * point['task_b_macro_f1']:.1f} (n=1) |" in md
    assert curve["paragraph"] in md and "`frozen`" in curve["paragraph"] and "`single_b`" in curve["paragraph"]
    assert (reports / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_finished_points(curve_run):
    assert curve_run["first"]["skipped"] == 0 and curve_run["second"]["skipped"] == 2
    assert len(curve_run["stamps"]) == 2
    assert all(p.stat().st_mtime_ns == t for p, t in curve_run["stamps"].items())  # not rewritten


def test_mlflow_parent_has_one_child_per_point(curve_run):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=curve_run["env"]["MLFLOW_TRACKING_URI"])
    points = {p["variant"]: p for p in json.loads((curve_run["work"] / "reports" / "learning_curve.json").read_text())["points"]}
    for run in ("first", "second"):  # each run of the grid is one parent, the skipped points logged again
        parent = client.get_run(curve_run[run]["mlflow_run_id"])
        assert parent.info.run_name.startswith("learning-curve-") and parent.info.status == "FINISHED"
        assert sorted(a.path for a in client.list_artifacts(parent.info.run_id)) == \
            ["learning_curve.json", "learning_curve.md", "learning_curve.png"]
        children = client.search_runs([parent.info.experiment_id],
                                      f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert sorted(c.data.params["variant"] for c in children) == VARIANTS
        for child in children:
            point = points[child.data.params["variant"]]
            assert child.data.params["size"] == "100" and child.data.params["seed"] == "13"
            assert child.data.metrics["test.task_b.macro_f1"] == pytest.approx(point["task_b_macro_f1"])
            assert child.data.metrics.get("test.task_a.macro_f1") == (
                None if point["task_a_macro_f1"] is None else pytest.approx(point["task_a_macro_f1"]))


def test_results_of_other_params_stop_the_grid(curve_run, repo_root):
    from mtst.cli import app

    work = curve_run["work"]
    changed = deep_merge(read_params_dict(work / "params.yaml"), {"evaluate": {"ece_bins": 10}})
    (work / "changed.yaml").write_text(yaml.safe_dump(changed))
    args = ["curve", "--params", str(work / "changed.yaml"), "--sizes", "100", "--seeds", "13", "--no-track",
            "--root", str(work / "points"), "--out", str(work / "other-reports"), "--variants", "frozen"]
    result = CliRunner().invoke(app, args, env=curve_run["env"])
    assert result.exit_code == 2 and "made with other parameters" in result.output, result.output
    assert not (work / "other-reports").exists()


def test_a_tuning_budget_keeps_the_best_candidate_on_validation(curve_run):
    """``curve.lr_scales``: every scale trained, the best on Task B validation evaluated, the budget reported."""
    from mtst.cli import app
    from mtst.contracts.training import TrainFolder

    work = curve_run["work"]
    tuned = deep_merge(read_params_dict(work / "params.yaml"), {"curve": {"lr_scales": [0.5, 1.0]}})
    (work / "tuned.yaml").write_text(yaml.safe_dump(tuned))
    args = ["curve", "--params", str(work / "tuned.yaml"), "--sizes", "100", "--seeds", "13", "--no-track",
            "--root", str(work / "tuned-points"), "--out", str(work / "tuned-reports"), "--variants", "frozen"]
    result = CliRunner().invoke(app, args, env=curve_run["env"])
    assert result.exit_code == 0, result.output
    point = work / "tuned-points" / "100-13" / "frozen"
    record = json.loads((point / "result.json").read_text())
    recipe_lr = read_params_dict(work / "params.yaml")["train"]["variants"]["frozen"]["stages"][0]["lr_head"]
    validation = {}
    for candidate in record["tuning"]:
        summary = TrainFolder(point / f"train-lr{candidate['lr_scale']:g}").summary()
        assert summary.params.variant["stages"][0]["lr_head"] == pytest.approx(recipe_lr * candidate["lr_scale"])
        assert candidate["validation_task_b_macro_f1"] == summary.validation["task_b"].macro_f1
        validation[candidate["lr_scale"]] = candidate["validation_task_b_macro_f1"]
    assert sorted(validation) == [0.5, 1.0]
    assert record["lr_scale"] == max(validation, key=lambda s: (validation[s], -s))  # a tie keeps the first listed
    evaluated = json.loads((point / "eval" / "variant.json").read_text())
    assert evaluated["train_dir"] == str(point / f"train-lr{record['lr_scale']:g}")
    assert "learning-rate scales 0.5, 1" in (work / "tuned-reports" / "learning_curve.md").read_text()
    assert "Tuning budget: none" in (work / "reports" / "learning_curve.md").read_text()


def test_the_budget_tuned_on_the_first_seed_is_reused_by_the_others(curve_run):
    """``curve.tune_on: first_seed``: seed 13 tries every scale, seed 14 trains only the scale chosen there."""
    from mtst.cli import app

    work = curve_run["work"]
    root = work / "first-seed-points"
    args = ["curve", "--params", str(work / "params.yaml"), "--sizes", "100", "--seeds", "13", "--seeds", "14",
            "--lr-scales", "0.5", "--lr-scales", "1", "--tune-on", "first_seed", "--no-track", "--root", str(root),
            "--out", str(work / "first-seed-reports"), "--variants", "frozen"]
    result = CliRunner().invoke(app, args, env=curve_run["env"])
    assert result.exit_code == 0, result.output
    tuned, reused = (json.loads((root / f"100-{seed}" / "frozen" / "result.json").read_text()) for seed in (13, 14))
    assert [t["lr_scale"] for t in tuned["tuning"]] == [0.5, 1.0] and "lr_scale_chosen_on_seed" not in tuned
    assert reused["lr_scale_chosen_on_seed"] == 13 and reused["lr_scale"] == tuned["lr_scale"]
    assert [t["lr_scale"] for t in reused["tuning"]] == [tuned["lr_scale"]]
    assert [p.name for p in (root / "100-14" / "frozen").glob("train*")] == [f"train-lr{tuned['lr_scale']:g}"]
    assert "tried on seed 13 only" in (work / "first-seed-reports" / "learning_curve.md").read_text()
    # the choice is part of a reused point's parameters: the same grid tuning on every seed stops at seed 14
    every = [a if a != "first_seed" else "every_seed" for a in args]
    result = CliRunner().invoke(app, every, env=curve_run["env"])
    assert result.exit_code == 2 and "100-14" in result.output and "made with other parameters" in result.output


def test_bad_grid_option_exits_2_before_training(tmp_path):
    from mtst.cli import app

    result = CliRunner().invoke(app, ["curve", "--seeds", "13", "--seeds", "13", "--root", str(tmp_path / "p")])
    assert result.exit_code == 2 and "curve.seeds lists a value twice" in result.output
    assert not (tmp_path / "p").exists()


# ---- the logic on constructed numbers ---------------------------------------------------------------
def test_interval_is_the_student_t_interval():
    got = interval([0.5, 0.6, 0.7])
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, df=2) * sd / sqrt(n)
    assert got["n"] == 3 and got["mean"] == pytest.approx(0.6)
    assert got["low"] == pytest.approx(0.6 - half, abs=1e-6) and got["high"] == pytest.approx(0.6 + half, abs=1e-6)
    assert interval([0.4]) == {"n": 1, "mean": 0.4, "low": None, "high": None}


def _results(table: dict[tuple[int | None, str], list[float]]) -> list[dict]:
    return [{"size": size, "size_label": "all" if size is None else str(size), "seed": 13 + i, "variant": variant,
             "task_b_train_rows": size or 15000, "task_b_macro_f1": f1,
             "task_a_macro_f1": None if variant.startswith("single") else 0.9}
            for (size, variant), values in table.items() for i, f1 in enumerate(values)]


def test_verdicts_pair_by_seed():
    results = _results({(250, "staged"): [0.60, 0.70, 0.65], (250, "single_b"): [0.55, 0.65, 0.60],
                        (500, "staged"): [0.60, 0.70, 0.65], (500, "single_b"): [0.70, 0.60, 0.66]})
    helps = compare(results, 250, "staged", "single_b", "multitask", tolerance=1.0)
    assert helps["verdict"] == "helps" and helps["difference_points"]["mean"] == pytest.approx(5.0)
    # the same means spread across seeds: the paired interval spans zero
    assert compare(results, 500, "staged", "single_b", "multitask", tolerance=1.0)["verdict"] == "ties"
    # a clear loss, but smaller than the tolerance, is a tie
    small = _results({(250, "staged"): [0.600, 0.700], (250, "single_b"): [0.605, 0.705]})
    assert compare(small, 250, "staged", "single_b", "multitask", tolerance=1.0)["verdict"] == "ties"
    assert compare(small, 250, "staged", "single_b", "multitask", tolerance=0.1)["verdict"] == "hurts"


def test_the_curve_compares_what_the_recipes_declare(repo_root):
    """The single-task baseline is the Task B-only variant; the augmentation pair is a variant and its ablation
    without augmentation (``ablation_of``), both found in the grid's variants."""
    from mtst.config import load_params
    from mtst.curve.grid import comparisons

    params = load_params(repo_root / "params.yaml")
    assert comparisons(params) == ("single_b", ("staged", "staged_noaug"))
    smoke = load_params(repo_root / "params.yaml", "smoke")  # frozen and single_b: no augmentation pair
    assert comparisons(smoke) == ("single_b", None)


PAIRS = {"single": "single_b", "augmentation": ("staged", "staged_noaug")}


def test_paragraph_says_where_multitask_helps_and_augmentation_stops_paying():
    results = _results({
        (250, "staged"): [0.60, 0.62, 0.61], (250, "staged_noaug"): [0.55, 0.56, 0.555], (250, "single_b"): [0.50, 0.52, 0.51],
        (1000, "staged"): [0.70, 0.72, 0.71], (1000, "staged_noaug"): [0.70, 0.72, 0.71], (1000, "single_b"): [0.70, 0.72, 0.71],
        (None, "staged"): [0.80, 0.82, 0.81], (None, "staged_noaug"): [0.81, 0.83, 0.82], (None, "single_b"): [0.85, 0.87, 0.86]})
    curve = summarize(results, tolerance=1.0, **PAIRS)
    assert curve["sizes"] == [250, 1000, None]
    text = curve["paragraph"]
    assert "Multi-task `staged` against single-task `single_b`: helps at 250 Task B rows; ties at 1,000 Task B " \
           "rows; hurts at all Task B rows." in text
    assert "Augmentation (`staged` against `staged_noaug`)" in text and "stops paying from 1,000 rows on" in text
    assert "single_b` against" not in text  # the single-task model is the baseline, never compared with itself
    never = summarize(_results({(250, "staged"): [0.60, 0.62, 0.61], (250, "staged_noaug"): [0.60, 0.62, 0.61],
                                (1000, "staged"): [0.70, 0.72, 0.71], (1000, "staged_noaug"): [0.71, 0.73, 0.72]}),
                      tolerance=1.0, **PAIRS)["paragraph"]
    assert "Augmentation pays at no size measured." in never and "stops paying" not in never
    late = summarize(_results({(250, "staged"): [0.60, 0.62, 0.61], (250, "staged_noaug"): [0.60, 0.62, 0.61],
                               (2000, "staged"): [0.70, 0.72, 0.71], (2000, "staged_noaug"): [0.68, 0.70, 0.69]}),
                     tolerance=1.0, **PAIRS)["paragraph"]
    assert "helps at 2,000 Task B rows; ties at 250 Task B rows." in late
    assert "does not stop paying within the sizes measured: it still helps at the largest, 2,000 rows." in late
    assert "every size" not in late
    always = summarize(_results({(250, "staged"): [0.62, 0.64, 0.63], (250, "staged_noaug"): [0.60, 0.62, 0.61]}),
                       tolerance=1.0, **PAIRS)["paragraph"]
    assert "Augmentation pays at every size measured." in always
