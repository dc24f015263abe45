"""Task sampling probabilities and the curriculum schedule that moves them (and loss weights)."""

from __future__ import annotations

import math

from mtst.training.schema import CurriculumParams, SamplingParams


def task_probabilities(sizes: dict[str, int], params: SamplingParams) -> dict[str, float]:
    """proportional: p ∝ n; temperature: p ∝ n^(1/T); round_robin: uniform (used for logging only)."""
    if params.strategy == "round_robin":
        return {t: 1.0 / len(sizes) for t in sizes}
    power = 1.0 if params.strategy == "proportional" else 1.0 / params.temperature
    raw = {t: float(n) ** power for t, n in sizes.items()}
    total = sum(raw.values())
    return {t: v / total for t, v in raw.items()}


def curriculum_mix(curriculum: CurriculumParams, progress: float, tasks: list[str]) -> dict[str, float]:
    """Interpolate per-task values from ``start`` to ``end`` at ``progress`` ∈ [0, 1]."""
    progress = min(max(progress, 0.0), 1.0)
    if curriculum.shape == "cosine":
        progress = 0.5 - 0.5 * math.cos(math.pi * progress)
    return {t: (1 - progress) * curriculum.start.get(t, 1.0) + progress * curriculum.end.get(t, 1.0) for t in tasks}


def normalise(values: dict[str, float]) -> dict[str, float]:
    total = sum(values.values())
    return {t: v / total for t, v in values.items()}


def task_mix(curriculum: CurriculumParams | None, base_probs: dict[str, float], tasks: list[str], step: int,
             total: int) -> tuple[dict[str, float], dict[str, float]]:
    """Sampling probabilities and loss factors at ``step`` of ``total``: the stage's own, or moved by its
    curriculum (on sampling, on the loss weights, or both)."""
    probs, factors = dict(base_probs), {t: 1.0 for t in tasks}
    if curriculum:
        mix = curriculum_mix(curriculum, step / max(1, total - 1), tasks)
        if curriculum.target in ("sampling", "both"):
            probs = normalise(mix)
        if curriculum.target in ("loss", "both"):
            factors = {t: mix[t] * len(tasks) / sum(mix.values()) for t in tasks}
    return probs, factors
