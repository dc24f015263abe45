"""Inference cost of a model: throughput (sentences per second through every head), parameters, size on
disk and parameter memory. Timings on a shared CPU swing; compare ratios measured in one process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def measure_throughput(model: Any, texts: Sequence[str], batch_size: int = 32, repeats: int = 3,
                       warmup: int = 8) -> dict[str, float]:
    """Median sentences/s of ``model.predict_proba`` (encoder + all heads) over ``repeats`` timed passes."""
    texts = list(texts)
    if warmup:
        model.predict_proba(texts[:warmup], batch_size=batch_size)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_proba(texts, batch_size=batch_size)
        timings.append(time.perf_counter() - start)
    seconds = statistics.median(timings)
    return {"sentences_per_s": len(texts) / seconds, "seconds": seconds, "sentences": len(texts),
            "batch_size": batch_size, "repeats": repeats, "threads": torch.get_num_threads()}


def dir_size_mb(path: str | Path) -> float:
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def model_size(model: torch.nn.Module, model_dir: str | Path | None = None) -> dict[str, float]:
    """Parameters (all, and per part), in-memory parameter + buffer size, and size of the saved folder."""
    parameters = sum(p.numel() for p in model.parameters())
    memory = sum(p.numel() * p.element_size() for p in model.parameters())
    memory += sum(b.numel() * b.element_size() for b in model.buffers())
    out = {"parameters": int(parameters), "memory_mb": memory / 2**20}
    encoder = getattr(model, "encoder", None)
    if encoder is not None:
        out["encoder_parameters"] = int(sum(p.numel() for p in encoder.parameters()))
        out["head_parameters"] = int(parameters - out["encoder_parameters"])
    if model_dir is not None:
        out["size_mb"] = dir_size_mb(model_dir)
    return out
