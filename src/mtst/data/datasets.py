"""Building the two task datasets (real sources or user files) and reading the split files back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtst.config import DataParams
from mtst.data import bbc, vader
from mtst.data.files import read_table
from mtst.data.sources import BBC_ARCHIVE, VADER_ARCHIVE, ensure_archive
from mtst.data.splits import add_ids, assign_splits, dedupe_texts

COLUMNS = ["id", "text", "label", "group", "split"]
TASK_LABELS = {"task_a": bbc.LABELS, "task_b": vader.LABELS}  # per mtst.tasks.TASKS row: its source's labels


def _from_user_file(path: str) -> pd.DataFrame:
    frame = read_table(path)
    frame["text"] = frame["text"].map(lambda t: " ".join(t.split()))
    if "group" not in frame.columns:
        frame["group"] = [f"row{i}" for i in range(len(frame))]
    frame["group"] = frame["group"].astype(str)
    return frame


def build_task(task: str, params: DataParams) -> pd.DataFrame:
    """One task's full table with a fixed ``split`` column (kept from a user file if it has one)."""
    if task == "task_a":
        source = params.topic
        frame = _from_user_file(source.path) if source.path else bbc.load_bbc(ensure_archive(BBC_ARCHIVE), source.min_words)
        strata = ["label"]
    else:
        source = params.sentiment
        frame = (_from_user_file(source.path) if source.path
                 else vader.load_vader(ensure_archive(VADER_ARCHIVE), source.neg_threshold, source.pos_threshold))
        strata = ["domain", "label"] if "domain" in frame.columns else ["label"]
    frame = add_ids(dedupe_texts(frame))
    if "split" not in frame.columns:
        frame["split"] = assign_splits(frame, strata, source.val_frac, source.test_frac, params.seed)
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame[COLUMNS + sorted(extra)]


def read_jsonl_frame(path: str | Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True, precise_float=True, dtype={"text": str, "label": str, "id": str, "group": str})


def split_path(splits_dir: str | Path, task: str, split: str) -> Path:
    return Path(splits_dir) / task / f"{split}.jsonl"


def load_split(splits_dir: str | Path, task: str, split: str) -> pd.DataFrame:
    return read_jsonl_frame(split_path(splits_dir, task, split))


def labels_of(task: str, frame: pd.DataFrame | None = None) -> list[str]:
    """The task's label set: the source's declared labels, or the sorted labels of a user file."""
    if frame is not None and not set(frame["label"]).issubset(TASK_LABELS[task]):
        return sorted(set(frame["label"]))
    return list(TASK_LABELS[task])
