"""What gets validated: the files (as ``Table``s) and the frames derived from them for cross-file rules.

Files are read with ``mtst.data.files.read_table``, so parse-level problems (wrong format, broken JSONL,
non-UTF-8 bytes, wrong delimiter, mixed line endings, wrong Parquet types, ...) stop before Great
Expectations with a ``DataFileError`` naming the file, the row and the rule. Content rules run in GX; the
cross-file rules (no text or article in two splits, enough rows per class) run on derived frames:

- ``class_counts``: one row per (part, declared label) with its count, so "one class missing" is a row
  with count 0; a *part* is one split of one dataset (a split file, or one ``split`` value of a file).
- ``leakage`` per task and dataset: one row per distinct (text, part) and per distinct (group, part), so
  a text or article in two splits is a duplicate value.

The declared labels of a task (``labels_for``) are ``validate.labels``' when it names the task, else the label set
``mtst data prepare`` recorded for the split files, else (users' own files, the raw data alone) the sorted labels
of the task's files: a user file's labels are its own, whatever their names and number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mtst.data import SPLITS
from mtst.data.datasets import labels_in
from mtst.data.files import load
from mtst.tasks import TASK_NAMES

# Columns the pipeline's own files carry (fetch / prepare / augment); user files need only text and label.
PIPELINE_COLUMNS = ("id", "text", "label", "group", "split")
USER_COLUMNS = ("text", "label")
STAGED_COLUMNS = ("id", "text", "label", "group", "split", "domain", "source_id", "augmentation")


@dataclass
class Table:
    """One file to validate."""

    name: str  # unique and stable, e.g. "splits/task_b/train"
    path: str  # as shown to users
    task: str
    dataset: str  # leakage is checked among the parts of one dataset ("data", "splits", "augmented", "files")
    frame: pd.DataFrame
    required: tuple[str, ...]
    split: str | None = None  # the split a split file holds; None: use the ``split`` column if there is one
    row_base: int = 1  # file row of frame position 0, for frames built in memory
    context_only: bool = False  # already checked elsewhere; here only as the other side of cross-file rules
    file_rows: list[int] | None = None  # a read file's row of each frame position (blank lines, multi-line cells)

    def __post_init__(self) -> None:
        self.frame = self.frame.reset_index(drop=True)

    def row(self, position: int) -> int:
        return self.file_rows[position] if self.file_rows is not None else position + self.row_base

    def parts(self) -> list[tuple[str, pd.DataFrame]]:
        """(part name, rows) for each split in this table."""
        if self.split is not None:
            return [(self.split, self.frame)]
        if "split" in self.frame.columns:
            names = sorted(self.frame["split"].dropna().astype(str).unique(), key=_split_order)
            return [(name, self.frame[self.frame["split"].astype(str) == name]) for name in names]
        return [("all", self.frame)]


def _split_order(name: str) -> tuple[int, str]:
    return (SPLITS.index(name) if name in SPLITS else len(SPLITS), name)


def read(path: str | Path, task: str, dataset: str, name: str, *, split: str | None = None,
         required: tuple[str, ...] = PIPELINE_COLUMNS) -> Table:
    """Read a file (parse-level checks; nulls are left for GX to count) into a ``Table``: only the columns
    validation looks at, so a user's other columns (nested, binary, huge) are never decoded."""
    if task not in TASK_NAMES:
        raise ValueError(f"unknown task {task!r}; expected one of {TASK_NAMES}")
    loaded = load(path, required=("text", "label"), optional=STAGED_COLUMNS, allow_nulls=True)
    return Table(name=name, path=str(path), task=task, dataset=dataset, frame=loaded.frame, required=required,
                 split=split, file_rows=loaded.rows)


def pipeline_tables(data_dir: str | Path | None, splits_dir: str | Path | None,
                    augmented_dir: str | Path | None = None) -> list[Table]:
    """The raw datasets (``data/<task>.jsonl``), the split files, and the augmented Task B training split.

    The augmented split is checked together with the validation and test split files it must not leak into.
    """
    tables: list[Table] = []
    if data_dir is not None:
        for task in TASK_NAMES:
            tables.append(read(Path(data_dir) / f"{task}.jsonl", task, "data", f"data/{task}"))
    if splits_dir is not None:
        for task in TASK_NAMES:
            for split in SPLITS:
                tables.append(read(Path(splits_dir) / task / f"{split}.jsonl", task, "splits",
                                   f"splits/{task}/{split}", split=split))
    if augmented_dir is not None:
        if splits_dir is None:
            raise ValueError("validating an augmented split needs the split files it must not leak into")
        tables.append(read(Path(augmented_dir) / "task_b" / "train.jsonl", "task_b", "augmented",
                           "augmented/task_b/train", split="train"))
        for table in [t for t in tables if t.dataset == "splits" and t.task == "task_b" and t.split != "train"]:
            tables.append(Table(name=f"augmented/{table.name}", path=table.path, task="task_b", dataset="augmented",
                                frame=table.frame, required=table.required, split=table.split,
                                row_base=table.row_base, context_only=True, file_rows=table.file_rows))
    return tables


def user_tables(files: list[str | Path], task: str) -> list[Table]:
    """Users' own files, checked as one dataset (a text in two files, or two splits, is leakage)."""
    tables = []
    for i, path in enumerate(files):
        stem = Path(path).name
        name = f"files/{stem}" if sum(Path(p).name == stem for p in files) == 1 else f"files/{i}-{stem}"
        tables.append(read(path, task, "files", name, required=USER_COLUMNS))
    return tables


def labels_for(tables: list[Table], declared: dict[str, list[str]],
               recorded: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Per task of ``tables``, the labels its files are checked against: ``declared`` (``validate.labels``), else
    ``recorded`` (the prepared data's, ``mtst.data.datasets.task_labels``), else the sorted labels of its files."""
    out: dict[str, list[str]] = {}
    for task in dict.fromkeys(t.task for t in tables):
        if declared.get(task):
            out[task] = list(declared[task])
        elif recorded and recorded.get(task):
            out[task] = list(recorded[task])
        else:
            frames = [t.frame[["label"]] for t in tables if t.task == task and "label" in t.frame.columns]
            out[task] = labels_in(pd.concat(frames, ignore_index=True)) if frames else []
    return out


def class_counts(tables: list[Table], labels: dict[str, list[str]]) -> pd.DataFrame:
    """Rows per (part, declared label), with the part's imbalance ratio (largest / smallest class)."""
    rows = []
    for table in tables:
        if table.context_only or "label" not in table.frame.columns:
            continue
        for part, frame in table.parts():
            if part not in SPLITS and part != "all":
                continue  # an unknown split name fails split_values; its rows are not a split to count
            counts = frame["label"].value_counts()
            declared = labels[table.task]
            values = [int(counts.get(label, 0)) for label in declared]
            ratio = max(values) / min(values) if values and min(values) > 0 else float("inf")
            for label, count in zip(declared, values):
                rows.append({"file": table.path, "part": part, "task": table.task, "label": label, "count": count,
                             "fraction": round(count / max(len(frame), 1), 4), "imbalance_ratio": round(ratio, 3)})
    return pd.DataFrame(rows, columns=["file", "part", "task", "label", "count", "fraction", "imbalance_ratio"])


def leakage_frame(tables: list[Table], key: str) -> pd.DataFrame:
    """One row per distinct (``key`` value, part) of a dataset; a value on two rows is in two splits."""
    rows = []
    for table in tables:
        if key not in table.frame.columns:
            continue
        for part, frame in table.parts():
            first = frame[key].dropna().astype(str).drop_duplicates(keep="first")
            for index, value in first.items():
                rows.append({key: value, "split": part, "file": table.path, "row": table.row(int(index))})
    return pd.DataFrame(rows, columns=[key, "split", "file", "row"])


def datasets(tables: list[Table]) -> dict[tuple[str, str], list[Table]]:
    """Tables grouped by (task, dataset): the scopes of the leakage rules."""
    groups: dict[tuple[str, str], list[Table]] = {}
    for table in tables:
        groups.setdefault((table.task, table.dataset), []).append(table)
    return groups
