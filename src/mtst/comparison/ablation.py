"""The imbalance ablation: each ablation against its base variant, what it changes (read from the params diff, so
a new ablation variant needs no code) and which axis (augmentation, sampling, loss weighting, curriculum) that
covers. A variant is an ablation of the base its ``train.variants.<v>.ablation_of`` names in params.yaml, as its
training recorded it (``variant.json``'s params), never by its name. Ablations this run did not train come from
earlier runs in MLflow on the same test rows (``mtst.comparison.earlier_runs``), each row naming its run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mtst.comparison.results import Result
from mtst.contracts.comparison import Ablation, AblationRow
from mtst.evaluation.flatten import flatten

ABLATION_AXES = {  # what an ablation may change, recognised from its params diff
    "augmentation": ("augment",),
    "sampling strategy": ("sampling", "temperature", "strategy"),
    "loss weighting": ("weight", "loss"),
    "curriculum": ("curriculum",),
}


def params_diff(base: dict[str, Any], other: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The flattened keys whose values differ (descriptions and the ablation's own ``ablation_of`` aside: they
    say what it is, not what it changes): ``{key: (base value, other value)}``."""
    fa, fb = flatten(base), flatten(other)
    skip = ("description", "ablation_of")
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb))
            if fa.get(k) != fb.get(k) and not k.endswith(skip)}


def _delta(result: Result, base: Result, key: str) -> float | None:
    value, reference = result.get(key), base.get(key)
    return None if result is base or value is None or reference is None else 100 * (value - reference)


def ablation(results: list[Result], earlier: Sequence[tuple[Result, str]] = ()) -> Ablation | None:
    """The ablation table of the base (the reference): the first evaluated variant, in the report's order, that
    an ablation here or in ``earlier`` (ablations from earlier runs, with where each comes from) names; None
    when no evaluated variant has an ablation."""
    ablated = {r.ablation_of for r in results} | {r.ablation_of for r, _ in earlier}
    base = next((r for r in results if r.variant in ablated), None)
    if base is None:
        return None
    sources = {id(r): source for r, source in earlier}
    variants = [r for r in [*results, *(r for r, _ in earlier)] if r.ablation_of == base.variant]
    rows, covered = [], set()
    base_params = {**base.params, "augmented": base.augmented}
    for r in [base, *variants]:
        diff = params_diff(base_params, {**r.params, "augmented": r.augmented}) if r is not base else {}
        axes = sorted({axis for axis, words in ABLATION_AXES.items() for key in diff if any(w in key for w in words)})
        covered.update(axes)
        shown = "; ".join(f"{k}: {_short(v[0])} → {_short(v[1])}" for k, v in list(diff.items())[:3])
        if len(diff) > 3:
            shown += f"; +{len(diff) - 3} more"
        rows.append(AblationRow(
            variant=r.variant, changes="(reference)" if r is base else (shown or "no parameter differs"),
            axes=axes, augmented=r.augmented, task_a=r.get("task_a.macro_f1"), task_b=r.get("task_b.macro_f1"),
            delta_a=_delta(r, base, "task_a.macro_f1"), delta_b=_delta(r, base, "task_b.macro_f1"),
            train_s=r.get("train.wall_s"), source=sources.get(id(r))))
    return Ablation(rows=rows, covered=sorted(covered), missing=[a for a in ABLATION_AXES if a not in covered])


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."
