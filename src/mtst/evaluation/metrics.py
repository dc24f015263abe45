"""Classification metrics for one task: accuracy, macro-F1, per-class precision / recall / F1, the confusion
matrix, expected calibration error (ECE) and log loss, from true label indices and predicted probabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from mtst.evaluation.flatten import flatten

__all__ = ["classification_metrics", "confusion_records", "expected_calibration_error", "flatten", "scalar_metrics"]


def expected_calibration_error(proba: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: the confidence-weighted gap between confidence and accuracy over equal-width bins,
    ``sum_b |B_b|/n * |acc(B_b) - conf(B_b)|``. 0 is perfectly calibrated."""
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return float("nan")
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    # bins (lo, hi]; confidence 0 cannot occur for a softmax, the first bin still takes it
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], n_bins: int = 15) -> dict[str, Any]:
    """Nested metrics of one task. ``y_true`` holds indices into ``labels``; ``proba`` is ``(n, len(labels))``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = proba.argmax(axis=1)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    clipped = np.clip(proba[np.arange(len(y_true)), y_true], 1e-12, 1.0)
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "ece": expected_calibration_error(proba, y_true, n_bins),
        "log_loss": float(-np.log(clipped).mean()) if len(y_true) else float("nan"),
        "class": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(support[i])} for i, label in enumerate(labels)},
        "confusion": {"labels": list(labels),
                      "matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist()},  # rows actual, cols predicted
    }


def confusion_records(actual: Sequence[str], predicted: Sequence[str]) -> list[dict[str, str]]:
    """DVC's confusion template input: one ``{"actual": ..., "predicted": ...}`` record per example."""
    return [{"actual": str(a), "predicted": str(p)} for a, p in zip(actual, predicted, strict=True)]


def scalar_metrics(nested: Mapping[str, Any], prefix: str = "") -> dict[str, int | float]:
    """The numeric leaves of a nested metrics dict (confusion matrices and label lists left out)."""
    return {k: (int(v) if isinstance(v, (int, np.integer)) else float(v))
            for k, v in flatten({k: v for k, v in nested.items() if k != "confusion"}, prefix).items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)}
