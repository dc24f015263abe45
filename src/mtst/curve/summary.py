"""From the points' results to the curve: mean and 95% interval per size and variant, paired differences
between variants, and the paragraph that says what they mean.

Intervals are Student-t intervals over seeds (``n - 1`` degrees of freedom), so they are honest for the 3 seeds
of the default grid; one seed gives a mean and no interval. Differences between two variants are paired by seed:
the variants of one size and seed trained on the same Task B rows and were tested on the same test rows, so the
seed-to-seed spread of the data cancels out of their difference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mtst.comparison.statistics import CONFIDENCE, interval


def _key(size: int | None) -> float:
    return math.inf if size is None else float(size)


def summarize(results: list[dict[str, Any]], tolerance: float, *, single: str | None,
              augmentation: tuple[str, str] | None) -> dict[str, Any]:
    """The curve: per size and variant the Task B (and Task A) macro-F1 interval over seeds, and per size the
    paired comparisons with a verdict each: every multi-task variant vs ``single`` (the single-task Task B
    baseline), and ``augmentation`` (a variant, its ablation without augmentation); both from the recipes
    (``mtst.curve.grid.comparisons``)."""
    sizes = sorted({r["size"] for r in results}, key=_key)
    variants = list(dict.fromkeys(r["variant"] for r in results))
    rows = []
    for size in sizes:
        for variant in variants:
            points = sorted((r for r in results if r["size"] == size and r["variant"] == variant), key=lambda r: r["seed"])
            if not points:
                continue
            task_a = [r["task_a_macro_f1"] for r in points if r.get("task_a_macro_f1") is not None]
            rows.append({"size": size, "size_label": points[0]["size_label"], "variant": variant,
                         "seeds": [r["seed"] for r in points],
                         "task_b_train_rows": int(np.mean([r["task_b_train_rows"] for r in points])),
                         "task_b_macro_f1": interval([r["task_b_macro_f1"] for r in points]),
                         "task_a_macro_f1": interval(task_a) if task_a else None})
    pairs = [(v, single, "multitask") for v in variants if v != single and single in variants
             and any(r.get("task_a_macro_f1") is not None for r in results if r["variant"] == v)]
    if augmentation and set(augmentation) <= set(variants):
        pairs.append((*augmentation, "augmentation"))
    comparisons = [c for size in sizes for a, b, kind in pairs
                   if (c := compare(results, size, a, b, kind, tolerance)) is not None]
    return {"confidence": CONFIDENCE, "tolerance": tolerance, "sizes": sizes, "variants": variants, "rows": rows,
            "comparisons": comparisons, "paragraph": paragraph(comparisons, variants, tolerance)}


def compare(results: list[dict[str, Any]], size: int | None, a: str, b: str, kind: str,
            tolerance: float) -> dict[str, Any] | None:
    """Task B macro-F1 of ``a`` minus ``b`` at ``size``, paired by seed. The verdict: ``helps`` / ``hurts`` when
    the mean difference is beyond ``tolerance`` (macro-F1 points) and, with several seeds, its interval
    excludes 0; else ``ties``. None when no seed has both."""
    by_seed = {(r["variant"], r["seed"]): r["task_b_macro_f1"] for r in results if r["size"] == size}
    seeds = sorted({s for v, s in by_seed if v == a} & {s for v, s in by_seed if v == b})
    if not seeds:
        return None
    diff = interval([100 * (by_seed[(a, s)] - by_seed[(b, s)]) for s in seeds])
    clear = abs(diff["mean"]) > tolerance and (diff["low"] is None or diff["low"] > 0 or diff["high"] < 0)
    verdict = ("helps" if diff["mean"] > 0 else "hurts") if clear else "ties"
    return {"size": size, "kind": kind, "a": a, "b": b, "difference_points": diff, "verdict": verdict}


def _sizes_text(sizes: list[int | None]) -> str:
    labels = ["all" if s is None else f"{s:,}" for s in sizes]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def paragraph(comparisons: list[dict[str, Any]], variants: list[str], tolerance: float) -> str:
    """What the comparisons say, one sentence per compared pair, in the order of the variants."""
    sentences = []
    for a in variants:
        for kind in ("multitask", "augmentation"):
            mine = [c for c in comparisons if c["a"] == a and c["kind"] == kind]
            if not mine:
                continue
            b = mine[0]["b"]
            parts = []
            for verdict in ("helps", "ties", "hurts"):
                sizes = [c["size"] for c in mine if c["verdict"] == verdict]
                if sizes:
                    parts.append(f"{verdict} at {_sizes_text(sizes)} Task B rows")
            what = f"Multi-task `{a}` against single-task `{b}`" if kind == "multitask" else \
                f"Augmentation (`{a}` against `{b}`)"
            sentence = f"{what}: {'; '.join(parts)}."
            if kind == "augmentation":
                stops, smallest = _stops_paying(mine), min((c["size"] for c in mine), key=_key)
                if all(c["verdict"] == "helps" for c in mine):
                    sentence += " Augmentation pays at every size measured."
                elif stops is _NEVER:
                    largest = max((c["size"] for c in mine), key=_key)
                    sentence += (f" Augmentation does not stop paying within the sizes measured: it still helps at "
                                 f"the largest, {_sizes_text([largest])} rows.")
                elif stops == smallest:
                    sentence += " Augmentation pays at no size measured."
                else:
                    sentence += f" Augmentation stops paying from {_sizes_text([stops])} rows on."
            sentences.append(sentence)
    if not sentences:
        return ("No pair of variants to compare: the grid needs the single-task Task B variant and a multi-task "
                "variant, or a variant and its ablation without augmentation, at the same sizes and seeds.")
    rule = (f"A difference counts when its paired mean exceeds {tolerance:g} macro-F1 point"
            f"{'' if tolerance == 1 else 's'} and, with several "
            f"seeds, its {int(CONFIDENCE * 100)}% interval excludes zero; otherwise it is a tie.")
    return " ".join(sentences) + " " + rule


_NEVER = object()


def _stops_paying(comparisons: list[dict[str, Any]]) -> Any:
    """The smallest size from which augmentation never helps again (sizes ascending), or ``_NEVER``."""
    ordered = sorted(comparisons, key=lambda c: _key(c["size"]))
    stop: Any = _NEVER
    for c in reversed(ordered):
        if c["verdict"] == "helps":
            break
        stop = c["size"]
    return stop
