"""The learning curve's points and how one point runs, from the pipeline's own steps (prepare → augment → train →
evaluate), each into ``<root>/<size>-<seed>/``.

A point is (Task B training size, seed, variant). The variants of one size and seed share that pair's prepared
splits and augmented split (``<root>/<size>-<seed>/splits``, ``.../augmented``), and every frozen-encoder stage
reads the embedding cache (``.cache/embeddings`` or ``$MTST_EMBEDDING_CACHE``), which is keyed by the texts: the
seed draws every capped split (``prepare.seed``), so Task A's and the validation splits' embeddings are computed
once per seed for all sizes and variants, and a Task B subset's once for all variants of its size and seed.

The tuning budget, the same for every variant (``curve.lr_scales``): a point trains its variant once per scale
(every stage's learning rates multiplied; into ``train-lr<scale>/``, or ``train/`` for the recipe alone) and
evaluates the candidate with the best Task B validation macro-F1: the test split never picks. With
``curve.tune_on: first_seed`` only the first seed's points try every scale; a later seed's point trains the scale
chosen for its size and variant there (the budget is spent once per size and variant, not once per seed).

A point is finished when its ``result.json`` exists (written last, atomically): a rerun skips it, so a killed
grid continues where it stopped; a point killed mid-training resumes from its checkpoints. A result made with
other parameters (its ``params_digest``) stops the grid instead of being mixed into this curve.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtst.config import ConfigError, Params
from mtst.dag import LAYOUT
from mtst.data import SUMMARY
from mtst.io import read_json, write_json, write_text
from mtst.training import fingerprint as fp
from mtst.training.fingerprint import FingerprintMismatch

RESULT = "result.json"


@dataclass(frozen=True)
class Point:
    """One trained and evaluated model of the curve."""

    size: int | None  # Task B training rows; None = all of them
    seed: int
    variant: str

    @property
    def size_label(self) -> str:
        return "all" if self.size is None else str(self.size)

    def data_dir(self, root: Path) -> Path:
        """The folder this point shares with the other variants of its size and seed."""
        return root / f"{self.size_label}-{self.seed}"

    def folder(self, root: Path) -> Path:
        return self.data_dir(root) / self.variant


def points(params: Params) -> list[Point]:
    """Every point of ``params.curve``, sizes outermost (small sizes finish first), after checking the variants
    exist and start from the pretrained encoder (a follow-up would need its source's model of the same point)."""
    curve, train = params.curve, params.train
    if train is None:
        raise ConfigError("params.yaml has no 'train' section: the learning curve trains its variants")
    unknown = [v for v in curve.variants if v not in train.variants]
    if unknown:
        raise ConfigError(f"params.yaml: curve.variants: {unknown} not defined in train.variants")
    followups = [v for v in curve.variants if train.variants[v].init_from]
    if followups:
        raise ConfigError(f"params.yaml: curve.variants: {followups} start from another variant's model; "
                          "the curve trains only variants that start from the pretrained encoder")
    return [Point(size, seed, variant) for size in curve.sizes for seed in curve.seeds for variant in curve.variants]


def comparisons(params: Params) -> tuple[str | None, tuple[str, str] | None]:
    """What the curve compares, read from the recipes of ``curve.variants``: the single-task Task B variant (the
    baseline of every multi-task one), and the augmentation pair (a variant trained on the augmented split and its
    ablation without it: ``ablation_of`` the first, ``augment: false``). None where the grid has no such variant."""
    assert params.train is not None
    recipes = {name: params.train.variants[name] for name in params.curve.variants}
    single = next((name for name, v in recipes.items() if v.tasks == ["task_b"]), None)
    augmentation = next(((v.ablation_of, name) for name, v in recipes.items()
                         if v.ablation_of in recipes and recipes[v.ablation_of].augment and not v.augment), None)
    return single, augmentation


def point_params(params: Params, point: Point) -> Params:
    """``params`` for one point: its Task B size and seed in ``prepare``, its seed in ``augment`` and ``train``,
    and the curve's epoch scale on top of the profile's."""
    assert params.train is not None
    return params.model_copy(update={
        "prepare": params.prepare.model_copy(update={"seed": point.seed, "task_b_train_limit": point.size}),
        "augment": params.augment.model_copy(update={"seed": point.seed}),
        "train": params.train.model_copy(update={"seed": point.seed,
                                                 "epoch_scale": params.train.epoch_scale * params.curve.epoch_scale}),
    })


def prepared_data(params: Params, point: Point, data_dir: Path, root: Path) -> tuple[Path, Path | None]:
    """The point's splits, and its augmented Task B split when its variant trains on one; each made once per
    size and seed (an existing folder is complete: the steps write their folders atomically)."""
    from mtst.steps import augment, prepare

    shared = point.data_dir(root)
    # the point's own workspace, its folders named as the pipeline's (mtst.dag.LAYOUT)
    splits, augmented = shared / Path(LAYOUT.splits).name, shared / Path(LAYOUT.augmented).name
    made_with = shared / "data_params.json"
    if made_with.exists() and made_with.read_text(encoding="utf-8") != _data_params(params):
        raise FingerprintMismatch(f"{shared} was prepared with other prepare / augment parameters ({made_with}): "
                                  f"move {root} away, or give another --root")
    if not (splits / SUMMARY).exists():
        write_text(made_with, _data_params(params))  # first: a kill during prepare leaves it, and prepare reruns
        prepare.run(params.prepare, data_dir, splits)
    if not params.train.variants[point.variant].augment:  # type: ignore[union-attr]
        return splits, None
    if not (augmented / SUMMARY).exists():
        augment.run(params.augment, splits, augmented, progress=False)
    return splits, augmented


def run_point(params: Params, point: Point, data_dir: Path, root: Path, show_progress: bool = False) -> dict[str, Any]:
    """Train the point's variant once per ``curve.lr_scales`` (its tuning budget), or once at the scale its
    first seed chose (``tuning_point``, run first if it has not), evaluate the candidate with the best Task B
    validation macro-F1 (unless the point's result exists) and return its result record."""
    from mtst.steps import evaluate

    folder = point.folder(root)
    settings = point_params(params, point)
    budget, tuned_on = params.curve.lr_scales, tuning_point(params, point)
    digest = params_digest(settings, point.variant, budget, None if tuned_on is None else tuned_on.seed)
    if (folder / RESULT).exists():
        done = read_json(folder / RESULT)
        if done.get("params_digest") != digest:
            raise FingerprintMismatch(f"{folder / RESULT} was made with other parameters than this curve's "
                                      f"{point}: move {root} away, or give another --root")
        return done
    scales = budget if tuned_on is None else [run_point(params, tuned_on, data_dir, root, show_progress)["lr_scale"]]
    splits, augmented = prepared_data(settings, point, data_dir, root)
    tried = [_trained(scaled_learning_rates(settings, point.variant, scale), point.variant, scale,
                      folder / ("train" if len(budget) == 1 else f"train-lr{scale:g}"), splits, augmented,
                      show_progress) for scale in scales]
    best = max(tried, key=lambda t: t["validation_task_b_macro_f1"])  # a tie keeps the first listed
    metrics = evaluate.run(settings.evaluate, best["train_dir"], splits, folder / "eval")
    result = {
        "size": point.size, "size_label": point.size_label, "seed": point.seed, "variant": point.variant,
        "task_b_train_rows": _train_rows(splits),
        "task_b_macro_f1": metrics["task_b.macro_f1"],
        "task_a_macro_f1": metrics.get("task_a.macro_f1"),
        "train_wall_s": metrics["train.wall_s"],
        "train_steps": metrics["train.steps"],
        "lr_scale": best["lr_scale"],
        "tuning": [{k: t[k] for k in ("lr_scale", "validation_task_b_macro_f1", "train_wall_s")} for t in tried],
        "params_digest": digest,
    }
    if tuned_on is not None:
        result["lr_scale_chosen_on_seed"] = tuned_on.seed
    write_json(folder / RESULT, result)
    return result


def tuning_point(params: Params, point: Point) -> Point | None:
    """The point whose choice of learning-rate scale ``point`` reuses: its size and variant at the first seed,
    under ``curve.tune_on: first_seed`` with more than one scale; ``None`` when ``point`` tries the whole budget."""
    curve = params.curve
    if curve.tune_on == "every_seed" or len(curve.lr_scales) == 1 or point.seed == curve.seeds[0]:
        return None
    return Point(point.size, curve.seeds[0], point.variant)


def scaled_learning_rates(settings: Params, variant: str, scale: float) -> Params:
    """``settings`` with every stage of ``variant`` at ``scale`` times its head and encoder learning rates."""
    assert settings.train is not None
    if scale == 1.0:
        return settings
    config = settings.train.variants[variant]
    stages = [s.model_copy(update={"lr_head": s.lr_head * scale, "lr_encoder": s.lr_encoder * scale})
              for s in config.stages]
    variants = {**settings.train.variants, variant: config.model_copy(update={"stages": stages})}
    return settings.model_copy(update={"train": settings.train.model_copy(update={"variants": variants})})


def _trained(settings: Params, variant: str, scale: float, train_dir: Path, splits: Path, augmented: Path | None,
             show_progress: bool) -> dict[str, Any]:
    """One candidate of the tuning budget, trained unless finished (a killed one resumes from its checkpoints)."""
    from mtst.contracts.training import TrainFolder
    from mtst.evaluation.errors import EvaluationError
    from mtst.steps import train
    from mtst.steps.evaluate import check_train_dir

    try:
        check_train_dir(train_dir)
    except EvaluationError:
        train.run(settings, variant, splits, train_dir, augmented, resume=True, show_progress=show_progress)
    summary = TrainFolder(train_dir).summary()
    return {"lr_scale": scale, "train_dir": train_dir, "train_wall_s": summary.wall_s,
            "validation_task_b_macro_f1": summary.validation["task_b"].macro_f1}


def params_digest(settings: Params, variant: str, lr_scales: list[float] | None = None,
                  chosen_on_seed: int | None = None) -> str:
    """What a point's result depends on: its variant, the ``train`` and ``model`` sections as the checkpoint
    fingerprint sees them (operational keys left out), the ``prepare``, ``augment`` and ``evaluate`` sections,
    and the tuning budget when it is more than the recipe itself, with the seed whose choice the point reuses
    (``curve.tune_on: first_seed``; a point that tried every scale has the digest of ``every_seed``)."""
    assert settings.train is not None
    sections = {"data": _data_params(settings),
                "evaluate": settings.evaluate.model_dump_json(exclude={"throughput_sentences", "throughput_batch_size",
                                                                       "throughput_repeats"})}
    if lr_scales and lr_scales != [1.0]:
        sections["lr_scales"] = json.dumps(lr_scales)
        if chosen_on_seed is not None:
            sections["lr_scale_chosen_on_seed"] = str(chosen_on_seed)
    mapping = fp.fingerprint(variant, settings.train.variants[variant].model_dump(), settings.train.model_dump(),
                             settings.model.model_dump(), sections)
    return hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()).hexdigest()[:16]


def _data_params(settings: Params) -> str:
    return json.dumps({"prepare": settings.prepare.model_dump(mode="json"),
                       "augment": settings.augment.model_dump(mode="json")}, sort_keys=True)


def _train_rows(splits: Path) -> int:
    """Task B training rows before augmentation: what the size means, also for ``all``."""
    return int(read_json(splits / SUMMARY)["task_b"]["train"]["total"])
