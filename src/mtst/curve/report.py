"""``learning_curve.{json,md,png}``: the curve's numbers, a table and paragraph for people, and the plot
(Task B macro-F1 against Task B training rows on a log axis, one line per variant, its interval as a band)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtst.io import atomic_path, write_json, write_text

NAMES = ("learning_curve.json", "learning_curve.md", "learning_curve.png")


def _cell(value: dict[str, Any] | None) -> str:
    if value is None:
        return "–"
    mean = f"{100 * value['mean']:.1f}"
    if value["low"] is None:
        return f"{mean} (n=1)"
    return f"{mean} [{100 * value['low']:.1f}, {100 * value['high']:.1f}]"


def _tuning(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The candidates a point tried (one, its recipe, for points made before the tuning budget existed)."""
    return result.get("tuning") or [{"lr_scale": 1.0, "train_wall_s": result["train_wall_s"]}]


def _budget(results: list[dict[str, Any]]) -> str:
    scales = sorted({t["lr_scale"] for r in results for t in _tuning(r)})
    if scales == [1.0]:
        return ("Tuning budget: none; every variant trains its params.yaml recipe once per point, the same for all "
                "(`curve.lr_scales` sets a budget).")
    text = (f"Tuning budget, the same for every variant: its recipe at learning-rate scales "
            f"{', '.join(f'{s:g}' for s in scales)} (every stage's rates multiplied), the one with the best Task B "
            "validation macro-F1 kept and tested (per point: `lr_scale` in learning_curve.json).")
    chosen_on = sorted({r["lr_scale_chosen_on_seed"] for r in results if "lr_scale_chosen_on_seed" in r})
    if chosen_on:
        text += (f" The scales were tried on seed {', '.join(map(str, chosen_on))} only; the other seeds train the "
                 "scale chosen there for their size and variant (`curve.tune_on: first_seed`).")
    return text


def markdown(summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
    level = int(summary["confidence"] * 100)
    training_min = sum(t["train_wall_s"] for r in results for t in _tuning(r)) / 60
    lines = ["# Task B learning curve", "",
             f"{len(results)} points: every variant at every Task B training size and seed. Macro-F1 on the test "
             f"split in points, mean over seeds with its {level}% t-interval in brackets; Task A only for the variants "
             "that serve it.", "",
             f"{_budget(results)} Training time summed over the points and their candidates: {training_min:.0f} min.",
             "",
             "| Task B rows | variant | seeds | Task B macro-F1 | Task A macro-F1 |",
             "|---:|---|---:|---:|---:|"]
    for row in summary["rows"]:
        rows = f"{row['task_b_train_rows']:,}" + (" (all)" if row["size"] is None else "")
        lines.append(f"| {rows} | {row['variant']} | {len(row['seeds'])} | {_cell(row['task_b_macro_f1'])} | "
                     f"{_cell(row['task_a_macro_f1'])} |")
    lines += ["", "## What the curve says", "", summary["paragraph"], ""]
    if summary["comparisons"]:
        lines += ["| Task B rows | compared | difference (points) | verdict |", "|---:|---|---:|---|"]
        for c in summary["comparisons"]:
            size = "all" if c["size"] is None else f"{c['size']:,}"
            d = c["difference_points"]
            diff = f"{d['mean']:+.1f}" + ("" if d["low"] is None else f" [{d['low']:+.1f}, {d['high']:+.1f}]")
            lines.append(f"| {size} | {c['a']} − {c['b']} | {diff} | {c['verdict']} |")
        lines.append("")
    lines += ["![Task B macro-F1 against Task B training rows](learning_curve.png)", ""]
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for variant in summary["variants"]:
        rows = [r for r in summary["rows"] if r["variant"] == variant]
        x = [r["task_b_train_rows"] for r in rows]
        f1 = [r["task_b_macro_f1"] for r in rows]
        line, = ax.plot(x, [100 * v["mean"] for v in f1], marker="o", label=variant)
        if all(v["low"] is not None for v in f1):
            ax.fill_between(x, [100 * v["low"] for v in f1], [100 * v["high"] for v in f1],
                            color=line.get_color(), alpha=0.2)
    ax.set_xscale("log")
    ticks = sorted({r["task_b_train_rows"] for r in summary["rows"]})
    ax.set_xticks(ticks, [f"{t:,}" for t in ticks])  # the measured sizes, not powers of ten
    ax.minorticks_off()
    ax.set_xlabel("Task B training rows (before augmentation)")
    ax.set_ylabel("Task B macro-F1 (test)")
    ax.set_title(f"Task B learning curve (mean over seeds, {int(summary['confidence'] * 100)}% interval)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def write(summary: dict[str, Any], results: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    """The three files into ``out``, each atomically; returns their paths."""
    paths = {name: Path(out) / name for name in NAMES}
    write_json(paths["learning_curve.json"], {**summary, "points": results})
    write_text(paths["learning_curve.md"], markdown(summary, results))
    plot(summary, paths["learning_curve.png"])
    return paths
