"""What ``mtst data prepare`` records beside the split files for the later steps (validate, augment, train)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import RootModel, field_validator

from mtst.contracts.base import load_json, validate
from mtst.io import write_json
from mtst.tasks import TASK_NAMES

LABELS = "labels.json"
"""The file name, in the split folder."""


class Labels(RootModel[dict[Literal[TASK_NAMES], list[str]]]):
    """``labels.json``: each task's label set, ``{"task_b": ["neg", "neu", "pos"], ...}``, in the order of the
    model's outputs: the sorted labels of the task's whole dataset (``mtst.data.datasets.labels_in``)."""

    @field_validator("root")
    @classmethod
    def _sets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for task, labels in value.items():
            if not labels or len(set(labels)) != len(labels):
                raise ValueError(f"{task}: a label set needs at least one label, each once; got {labels}")
        return value

    @classmethod
    def read(cls, path: str | Path) -> Labels:
        return validate(cls, load_json(path, "run `mtst data prepare`"), path, "a label set per task")

    def write(self, path: str | Path) -> None:
        """Atomic (``mtst.io.write_json``)."""
        write_json(path, self.root)
