"""Inference cost of the compared models, timed side by side: each evaluation timed its model alone, at another
moment and maybe under another load, so throughput ratios are only fair when measured in one process, in turn."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from mtst.evaluation.sampling import throughput_sample


def measure_side_by_side(models: dict[str, Path], texts: list[str], batch_size: int, repeats: int) -> dict[str, dict[str, float]]:
    """Sentences/s of each model on the same sentences, timed in turn (interleaved) in this one process, with
    its size (``mtst.evaluation.speed.model_size``)."""
    from mtst.evaluation.speed import model_size
    from mtst.model import MultiTaskSentenceTransformer

    loaded = {name: MultiTaskSentenceTransformer.load(path) for name, path in models.items()}
    for model in loaded.values():
        model.predict_proba(texts[:8], batch_size=batch_size)  # warm-up
    timings: dict[str, list[float]] = {name: [] for name in loaded}
    for _ in range(repeats):
        for name, model in loaded.items():
            start = time.perf_counter()
            model.predict_proba(texts, batch_size=batch_size)
            timings[name].append(time.perf_counter() - start)
    out = {}
    for name, model in loaded.items():
        seconds = statistics.median(timings[name])
        out[name] = {"sentences_per_s": len(texts) / seconds, **model_size(model, models[name])}
    return out


def sample_texts(splits_dir: Path, n: int, seed: int) -> list[str]:
    """Test sentences drawn as evaluate draws its throughput sample, so the timings compare."""
    return throughput_sample(splits_dir, "test", n, seed)
