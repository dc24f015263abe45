"""The split files a variant trained and was tested on, logged as its run's dataset inputs (``mlflow.data``), so
the runs table's Dataset column says which data each variant saw. The training run logs the training splits
(``training_inputs``), the evaluation the tested ones (``testing_inputs``).

Training: the file each task the variant trained was read from (``train_files`` in ``train_summary.json``:
Task B's augmented split when the variant trained on it); a summary from before that field names the layout
``dvc.yaml`` and the CLI defaults use (``<splits>/<task>/train.jsonl``, the augmented one in
``<splits>/../augmented/task_b/``). Testing: the evaluated split (``variant.json``) of every head. Each
dataset is named ``<task>/<split>`` (``(augmented)`` added) and its digest is the MD5 of the whole file (what
``md5sum`` prints), not MLflow's default over the first 10,000 rows, which would miss an augmentation that
changed only later rows.
A file that is not there (an augmented split moved elsewhere) is left out and named in the run tag
``mtst.inputs_missing``: the inputs never claim data the step could not read.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtst.contracts.evaluation import VariantInfo
from mtst.contracts.training import TrainSummary
from mtst.data.datasets import read_jsonl_frame, split_path
from mtst.run_tags import INPUTS_MISSING

CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True)
class SplitInput:
    """One split file and the role it played for the variant (``training`` or ``testing``)."""

    name: str
    path: Path
    context: str


def augmented_train_path(splits_dir: str | Path) -> Path:
    """Where ``mtst augment`` writes the augmented Task B train split, beside the splits folder."""
    return Path(splits_dir).parent / "augmented" / "task_b" / "train.jsonl"


def training_inputs(summary: TrainSummary, splits_dir: str | Path) -> list[SplitInput]:
    """The training split of each task the variant trained (``splits_dir``: where the layout puts them when
    the summary predates ``train_files``); logged by the training run."""
    inputs = []
    for task in summary.trained_tasks:
        augmented = task == "task_b" and summary.augmented
        laid_out = augmented_train_path(splits_dir) if augmented else split_path(splits_dir, task, "train")
        inputs.append(SplitInput(f"{task}/train" + (" (augmented)" if augmented else ""),
                                 Path(summary.train_files.get(task, laid_out)), "training"))
    return inputs


def testing_inputs(info: VariantInfo) -> list[SplitInput]:
    """The evaluated split of each of the variant's heads; logged by the evaluation."""
    return [SplitInput(f"{task}/{info.split}", split_path(info.splits_dir, task, info.split), "testing")
            for task in info.tasks]


def file_digest(path: Path) -> str:
    """The whole file's MD5, so a user can check it with ``md5sum``."""
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def log_inputs(client: Any, run_id: str, inputs: list[SplitInput]) -> None:
    """Log the inputs whose file exists as the run's dataset inputs, and name the others in the run tag
    ``mtst.inputs_missing``."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    present = [i for i in inputs if i.path.is_file()]
    missing = [i for i in inputs if not i.path.is_file()]
    with warnings.catch_warnings():  # MLflow registers its local source twice ("" and "file") and says so per file
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted in multiple ways")
        datasets = [DatasetInput(mlflow.data.from_pandas(read_jsonl_frame(i.path), source=str(i.path), name=i.name,
                                                         targets="label", digest=file_digest(i.path))
                                 ._to_mlflow_entity(), tags=[InputTag(CONTEXT_TAG, i.context)]) for i in present]
    if datasets:
        client.log_inputs(run_id, datasets=datasets)
    if missing:
        client.set_tag(run_id, INPUTS_MISSING, ", ".join(str(i.path) for i in missing))
