"""Fixed, seeded, grouped and stratified splits, and the limits applied on top of them.

Leakage is prevented in two layers: identical texts are collapsed first (a text with conflicting labels is
dropped as ambiguous), then whole groups (BBC articles) are assigned to one split, stratified by label
(and by domain for VADER) so every split keeps the class balance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtst.data import SPLITS


def dedupe_texts(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the first occurrence of each text; drop texts that occur with more than one label."""
    labels_per_text = frame.groupby("text")["label"].nunique()
    ambiguous = set(labels_per_text[labels_per_text > 1].index)
    kept = frame[~frame["text"].isin(ambiguous)].drop_duplicates("text", keep="first")
    return kept.reset_index(drop=True)


def add_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Stable row ids: ``<group>#<position within group>``."""
    frame = frame.copy()
    frame["id"] = frame["group"].astype(str) + "#" + frame.groupby("group").cumcount().astype(str)
    return frame


def assign_splits(frame: pd.DataFrame, strata: list[str], val_frac: float, test_frac: float, seed: int) -> pd.Series:
    """Return a ``split`` column: whole groups go to one split, stratified by the group's first ``strata`` values."""
    rng = np.random.RandomState(seed)
    groups = frame.groupby("group", sort=True)[strata].first()
    assignment: dict[str, str] = {}
    for _, members in groups.groupby(strata, sort=True):
        names = sorted(members.index)
        order = rng.permutation(len(names))
        n_test = int(round(len(names) * test_frac))
        n_val = int(round(len(names) * val_frac))
        for rank, idx in enumerate(order):
            assignment[names[idx]] = "test" if rank < n_test else "validation" if rank < n_test + n_val else "train"
    return frame["group"].map(assignment)


def stratified_sample(frame: pd.DataFrame, n: int, strata: list[str], seed: int) -> pd.DataFrame:
    """Sample ``n`` rows keeping the strata proportions (largest-remainder rounding), order preserved."""
    if n >= len(frame):
        return frame
    key = frame[strata].astype(str).agg("|".join, axis=1)
    sizes = key.value_counts().sort_index()
    exact = sizes / sizes.sum() * n
    quota = np.floor(exact).astype(int)
    remainder = (exact - quota).sort_values(ascending=False, kind="mergesort")
    for stratum in remainder.index[: n - int(quota.sum())]:
        quota[stratum] += 1
    rng = np.random.RandomState(seed)
    picked: list[int] = []
    for stratum in sizes.index:
        members = frame.index[key == stratum]
        picked.extend(members[rng.permutation(len(members))[: int(quota[stratum])]])
    return frame.loc[sorted(picked)]


def split_counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{split: {label: count, ..., "total": n}}`` for summaries."""
    out: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        part = frame[frame["split"] == split]
        counts = {str(k): int(v) for k, v in part["label"].value_counts().sort_index().items()}
        counts["total"] = int(len(part))
        out[split] = counts
    return out
