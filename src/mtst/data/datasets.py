"""Building the two task datasets (real sources or user files), reading the split files back, and each task's
label set.

A task's label set is a fact of its data, decided once: ``mtst data prepare`` writes the sorted labels of each
task's full dataset (every split, before any limit) to ``labels.json`` beside the split files
(``mtst.contracts.data.Labels``), and validate, augment and train read it from there (``task_labels``). A user
file's labels are its own, whatever their names and number; the built-in sources declare theirs (``TASK_LABELS``)
in sorted order, so for them the rule gives the same labels, in the same order, as their declaration.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtst.config import ConfigError, DataParams
from mtst.contracts.base import ContractError
from mtst.contracts.data import LABELS, Labels
from mtst.data import SPLITS, bbc, vader
from mtst.data.files import read_table
from mtst.data.sources import BBC_ARCHIVE, VADER_ARCHIVE, ensure_archive
from mtst.data.splits import add_ids, assign_splits, dedupe_texts
from mtst.tasks import task as task_row

COLUMNS = ["id", "text", "label", "group", "split"]
TASK_LABELS = {"task_a": bbc.LABELS, "task_b": vader.LABELS}
"""The built-in sources' declared labels, per mtst.tasks.TASKS row: what they must produce (``build_task``), not the
label set of a task, which is its prepared data's (``task_labels``)."""


def _from_user_file(path: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc

    frame = read_table(path)
    frame["text"] = frame["text"].map(lambda t: " ".join(t.split()))
    if "group" not in frame.columns:  # "row0", "row1", ... made in arrow: no Python string per row on the way
        frame["group"] = pc.binary_join_element_wise("row", pa.array(range(len(frame)), pa.int64()).cast(pa.string()),
                                                     "").to_pandas()
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
    if not source.path:
        _check_source_labels(task, frame)
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


def _check_source_labels(task: str, frame: pd.DataFrame) -> None:
    """A built-in source yields exactly its declared labels; one missing (VADER thresholds that leave a class
    empty) would otherwise quietly make a model with fewer classes."""
    found, declared = labels_in(frame), sorted(TASK_LABELS[task])
    if found != declared:
        raise ConfigError(f"data.{task_row(task).short}: the built-in source gives the labels {found}, "
                          f"not its declared {declared}"
                          + (" (check data.sentiment.neg_threshold and pos_threshold)" if task == "task_b" else ""))


def labels_in(frame: pd.DataFrame) -> list[str]:
    """The label set of a task's data: its distinct labels, sorted (the one rule, for every source)."""
    return sorted({str(label) for label in frame["label"].dropna()})


def task_labels(splits_dir: str | Path, task: str) -> list[str]:
    """The label set of ``task`` as ``mtst data prepare`` recorded it in ``splits_dir`` (``labels.json``); a split
    folder without the record (made by hand, or by an mtst before it) gets the same rule applied to its split files."""
    record = Path(splits_dir) / LABELS
    if record.exists():
        labels = Labels.read(record).root
        if task not in labels:
            raise ContractError(f"{record} has no label set for {task} (it has {sorted(labels)}): "
                                "run `mtst data prepare`")
        return list(labels[task])
    frames = [load_split(splits_dir, task, split) for split in SPLITS if split_path(splits_dir, task, split).exists()]
    if not frames:
        raise ConfigError(f"{Path(splits_dir) / task} has no split files: run `mtst data prepare` first")
    return labels_in(pd.concat([f[["label"]] for f in frames], ignore_index=True))
