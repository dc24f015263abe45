"""PNG plots with matplotlib's Agg backend (no display needed): confusion matrices, training loss per task
over steps with the stage boundaries marked, and the variant comparison chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtst.contracts.training import StageRecord  # noqa: E402
from mtst.io import atomic_path  # noqa: E402
from mtst.tasks import TASK_NAMES  # noqa: E402

TASK_COLORS = {"task_a": "#2272b4", "task_b": "#de7921"}


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, path: str | Path) -> Path:
    """Counts with row-normalised shading (recall per actual class); rows actual, columns predicted."""
    counts = np.asarray(matrix, dtype=float)
    rates = counts / np.clip(counts.sum(axis=1, keepdims=True), 1, None)
    size = 1.1 + 0.75 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.55 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of actual class")
    return _save(fig, path)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def plot_loss(history: Sequence[Mapping[str, Any]], stages: Sequence[StageRecord], title: str,
              path: str | Path) -> Path:
    """Loss per task over optimisation steps (raw, faint; moving average, solid) with a dashed vertical line
    at each stage boundary, labelled with the stage that starts there."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    keys = sorted({k for record in history for k in record if k.startswith("loss/")})
    for key in keys:
        points = [(r["step"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
        if not points:
            continue
        steps, values = (np.asarray(v, dtype=float) for v in zip(*points, strict=True))
        task = key.split("/", 1)[1]
        color = TASK_COLORS.get(task)
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
        window = max(1, len(values) // 40)
        label = f"{task} (mean of {window} steps)" if window > 1 else task
        ax.plot(steps, _smooth(values, window), color=color, linewidth=1.8, label=label)
    for i, stage in enumerate(stages):
        if i > 0:
            ax.axvline(stage.start_step, color="#5f7281", linestyle="--", linewidth=1)
        ax.text(stage.start_step, 0.99, f" {stage.name}", transform=ax.get_xaxis_transform(), va="top", ha="left",
                fontsize=8, color="#445461")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    if keys:
        ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_comparison(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "Freeze variants") -> Path:
    """Left: macro-F1 of Task A and Task B per variant. Right: Task B macro-F1 per domain per variant."""
    variants = [r["variant"] for r in rows]
    x = np.arange(len(variants))
    domains = sorted({d for r in rows for d in (r.get("domains") or {})})
    fig, axes = plt.subplots(1, 2 if domains else 1, figsize=(13 if domains else 7, 4.6), squeeze=False)
    ax = axes[0][0]
    width = 0.38
    for i, task in enumerate(TASK_NAMES):
        offset = (i - (len(TASK_NAMES) - 1) / 2) * width
        values = [r.get(task) for r in rows]
        heights = [v * 100 if v is not None else 0 for v in values]
        bars = ax.bar(x + offset, heights, width, label=task, color=TASK_COLORS[task])
        for bar, v in zip(bars, values, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), "n/a" if v is None else f"{v * 100:.1f}",
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, variants, rotation=30, ha="right")
    ax.set_ylabel("macro-F1 (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{title}: macro-F1 on the test sets")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    if domains:
        ax = axes[0][1]
        width = 0.8 / len(domains)
        for i, domain in enumerate(domains):
            heights = [((r.get("domains") or {}).get(domain) or 0) * 100 for r in rows]
            ax.bar(x - 0.4 + width * (i + 0.5), heights, width, label=domain)
        ax.set_xticks(x, variants, rotation=30, ha="right")
        ax.set_ylim(0, 105)
        ax.set_ylabel("Task B macro-F1 (%)")
        ax.set_title("Task B per domain")
        ax.legend(fontsize=8, ncol=len(domains))
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
