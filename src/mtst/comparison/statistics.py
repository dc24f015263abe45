"""How sure a score is: a paired bootstrap of a macro-F1 difference over the same test rows, and a Student-t
interval of a mean over seeds.

The macro-F1 here is computed from a confusion matrix in numpy, cheap enough to run once per resample;
``tests/test_compare.py`` checks it against sklearn's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtst.contracts.comparison import Prediction

CONFIDENCE = 0.95


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    counts = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    tp = np.diag(counts).astype(float)
    denom = counts.sum(axis=0) + counts.sum(axis=1)
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(f1.mean())


@dataclass(frozen=True)
class Interval:
    """A macro-F1 difference in points with its 95% percentile interval, over ``n`` paired rows."""

    diff: float
    low: float
    high: float
    n: int
    resamples: int


def paired_bootstrap(a: list[Prediction], b: list[Prediction], resamples: int, seed: int) -> Interval | None:
    """Macro-F1 difference (a − b, in points) on the same test rows, with a 95% percentile interval; None when
    either side has no predictions or they were not made on the same rows."""
    if not a or not b or resamples <= 0:
        return None
    b_by_id = {r.id: r for r in b}
    rows = [(r, b_by_id[r.id]) for r in a if r.id in b_by_id]
    if len(rows) < len(a) * 0.99:
        return None  # not the same test rows
    labels = sorted({label for pair in rows for r in pair for label in (r.label, r.predicted)})
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[ra.label] for ra, _ in rows])
    pa = np.array([index[ra.predicted] for ra, _ in rows])
    pb = np.array([index[rb.predicted] for _, rb in rows])
    k = len(labels)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for i in range(resamples):
        s = rng.integers(0, len(y), len(y))
        diffs[i] = macro_f1(y[s], pa[s], k) - macro_f1(y[s], pb[s], k)
    point = macro_f1(y, pa, k) - macro_f1(y, pb, k)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return Interval(100 * point, 100 * float(low), 100 * float(high), len(y), resamples)


def interval(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Mean and two-sided t-interval of ``values`` (``low``/``high`` None for a single value)."""
    from scipy import stats

    data = np.asarray(values, dtype=float)
    n = int(data.size)
    if n == 0:
        raise ValueError("an interval needs at least one value")
    mean = float(data.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "low": None, "high": None}
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half}
