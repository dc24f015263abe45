"""Batches that cost little: pre-tokenised rows, dynamic padding, length-grouped order, and a task
sampler whose every choice is a pure function of (seed, stage, counters) — so a checkpoint needs only
counters to resume bit-for-bit, and every DDP rank draws the same task at the same step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


def tokenize_texts(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """Token id lists, unpadded: each batch is padded later, only to its own longest row."""
    return tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)["input_ids"]


def pad_batch(rows: list[list[int]], pad_id: int, pad_to: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic padding: to the longest row of this batch (or a fixed ``pad_to``, for the benchmark)."""
    width = pad_to or max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        row = row[:width]
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def epoch_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, group_by_length: bool,
                  min_batch: int = 1) -> list[np.ndarray]:
    """One epoch's batches of row indices. With grouping: shuffle, sort within mega-batches of 50
    batches by length, cut into batches, shuffle the batch order (the HF ``group_by_length`` recipe)."""
    order = rng.permutation(len(lengths))
    if group_by_length:
        mega = batch_size * 50
        chunks = [order[i:i + mega] for i in range(0, len(order), mega)]
        order = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in chunks])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < min_batch:  # every DDP rank needs at least one row
        batches[-2:] = [np.concatenate(batches[-2:])]
    if group_by_length:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


@dataclass
class TaskCursor:
    epoch: int = 0
    position: int = 0


@dataclass
class TaskBatchSampler:
    """Draws (task, row indices) for each step. All randomness is re-derived from counters."""

    sizes: dict[str, np.ndarray]  # task -> token lengths of its rows
    batch_size: int
    seed: int
    stage_index: int
    group_by_length: bool = True
    min_batch: int = 1
    cursors: dict[str, TaskCursor] = field(default_factory=dict)
    _cache: dict[str, tuple[int, list[np.ndarray]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for task in self.sizes:
            self.cursors.setdefault(task, TaskCursor())

    def _batches(self, task: str, epoch: int) -> list[np.ndarray]:
        cached = self._cache.get(task)
        if cached is None or cached[0] != epoch:
            task_index = sorted(self.sizes).index(task)
            rng = np.random.default_rng([self.seed, self.stage_index, task_index, epoch])
            cached = (epoch, epoch_batches(self.sizes[task], self.batch_size, rng, self.group_by_length, self.min_batch))
            self._cache[task] = cached
        return cached[1]

    def choose_task(self, step: int, probabilities: dict[str, float], round_robin: bool) -> str:
        tasks = sorted(probabilities)
        if round_robin:
            return tasks[step % len(tasks)]
        rng = np.random.default_rng([self.seed, self.stage_index, 10_007, step])
        p = np.array([probabilities[t] for t in tasks], dtype=np.float64)
        return tasks[int(rng.choice(len(tasks), p=p / p.sum()))]

    def next_batch(self, task: str) -> np.ndarray:
        cursor = self.cursors[task]
        batches = self._batches(task, cursor.epoch)
        if cursor.position >= len(batches):
            cursor.epoch, cursor.position = cursor.epoch + 1, 0
            batches = self._batches(task, cursor.epoch)
        batch = batches[cursor.position]
        cursor.position += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {task: {"epoch": c.epoch, "position": c.position} for task, c in self.cursors.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for task, values in state.items():
            self.cursors[task] = TaskCursor(int(values["epoch"]), int(values["position"]))


def steps_for(epochs: float, sizes: dict[str, int], batch_size: int) -> int:
    """Steps for ``epochs`` passes over all of the stage's rows (summed over tasks)."""
    return max(1, math.ceil(epochs * sum(sizes.values()) / batch_size))


def shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's share of a global batch (ranks see disjoint rows; the global batch is unchanged)."""
    return indices[rank::world_size]
