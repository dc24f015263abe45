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
