"""DAG node ``train``: one freeze variant from params.yaml → a saved model plus its training record.

Outputs (written atomically as one folder): ``model/``, ``history.jsonl`` (one record per step),
``stages.json`` and ``train_summary.json``. Checkpoints go to a sibling folder so a killed run resumes
with ``resume=True``; they are removed once the variant finishes. Both folders are locked for the run
(a second ``mtst train`` on them fails at once) and must be absent, empty or written by mtst before.

With ``tracking``, the finished folder is then logged as the training part of the variant's MLflow child run
(``mtst.tracking.variant.log_training``: params, curves, train/val metrics, one run per stage), by rank 0 alone
under torchrun; the summary returned gains ``mlflow`` (the run ids). Nothing is written into the folder for
it, so a tracked and an untracked run leave the same bytes.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtst.config import ConfigError, Params, TrackingParams
from mtst.data.datasets import load_split, read_jsonl_frame, split_path, task_labels
from mtst.contracts.training import HISTORY, MODEL, STAGES, SUMMARY, Stages, TrainedParams, TrainSummary
from mtst.io import atomic_dir, ensure_owned, remove_owned, write_jsonl
from mtst.locking import folder_lock
from mtst.model import MultiTaskSentenceTransformer
from mtst.plan import init_model_dir
from mtst.training import fingerprint as fp
from mtst.training.distributed import Distributed
from mtst.training.precision import resolve_bf16
from mtst.training.task_data import TaskData
from mtst.training.trainer import Trainer
from mtst.dag import LAYOUT


def default_checkpoint_dir(out_dir: Path) -> Path:
    return out_dir.parent / ".checkpoints" / out_dir.name


def _task_data(frame, labels: list[str], path: Path) -> TaskData:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(frame["label"]) - set(index))
    if unknown:
        raise ConfigError(f"{path}: labels {unknown} are not in the task's label set {labels} "
                          "(recorded by `mtst data prepare` with the split files): prepare the splits again")
    return TaskData(frame["text"].tolist(), np.array([index[label] for label in frame["label"]], dtype=np.int64))


def train_file(task: str, splits_dir: Path, augmented_train: Path | None) -> Path:
    """The file a task's train split is read from: Task B's augmented split where the variant trains on it."""
    return augmented_train if task == "task_b" and augmented_train else split_path(splits_dir, task, "train")


def load_task_data(tasks: list[str], splits_dir: Path, augmented_train: Path | None) -> tuple[dict[str, list[str]], dict[str, TaskData], dict[str, TaskData]]:
    """Each task's label set (as prepared: ``mtst.data.datasets.task_labels``), training and validation data."""
    labels, train, validation = {}, {}, {}
    for task in tasks:
        train_path = train_file(task, splits_dir, augmented_train)
        labels[task] = task_labels(splits_dir, task)
        train[task] = _task_data(read_jsonl_frame(train_path), labels[task], train_path)
        validation[task] = _task_data(load_split(splits_dir, task, "validation"), labels[task],
                                      split_path(splits_dir, task, "validation"))
    return labels, train, validation


def run(params: Params, variant: str, splits_dir: str | Path = LAYOUT.splits, out_dir: str | Path | None = None,
        augmented_dir: str | Path | None = None, init_dir: str | Path | None = None,
        checkpoint_dir: str | Path | None = None, resume: bool = False, show_progress: bool = True,
        dist: Distributed | None = None, *, tracking: TrackingParams | None = None,
        pipeline_params: dict[str, Any] | None = None, pipeline_id: str | None = None) -> dict[str, Any]:
    """Train ``variant`` into ``out_dir`` (default ``mtst.dag.LAYOUT.train(variant)``); log it to MLflow when
    ``tracking`` is given and enabled, under the parent run of the pipeline run ``pipeline_id`` (None: the
    default identity, ``mtst.tracking.default_pipeline_id``). Returns the train summary (plus ``mlflow`` ids
    when tracked, on rank 0)."""
    if params.train is None:
        raise ConfigError("params.yaml has no 'train' section")
    if variant not in params.train.variants:
        raise ConfigError(f"unknown variant {variant!r}; params.yaml defines {sorted(params.train.variants)}")
    config, train_params = params.train.variants[variant], params.train
    dist = dist or Distributed.single()
    if tracking is not None and tracking.enabled and dist.is_main:  # an unreachable store fails now, not after training
        from mtst.tracking import preflight

        preflight(tracking)
    out = Path(out_dir or LAYOUT.train(variant))
    checkpoints = Path(checkpoint_dir) if checkpoint_dir else default_checkpoint_dir(out)
    if train_params.threads:
        torch.set_num_threads(train_params.threads)

    augmented_train = None
    if config.augment and "task_b" in config.tasks:
        if augmented_dir is None or not (Path(augmented_dir) / "task_b" / "train.jsonl").exists():
            raise ConfigError(f"variant {variant!r} trains on the augmented Task B split, but "
                              f"{augmented_dir}/task_b/train.jsonl does not exist: run `mtst augment` first "
                              f"or set train.variants.{variant}.augment: false")
        augmented_train = Path(augmented_dir) / "task_b" / "train.jsonl"
    labels, train, validation = load_task_data(config.tasks, Path(splits_dir), augmented_train)

    torch.manual_seed(train_params.seed)  # head initialisation is part of the seeded run
    if config.init_from:
        source = Path(init_dir) if init_dir else init_model_dir(params, variant, out.parent)
        if not source.exists():
            raise ConfigError(f"variant {variant!r} starts from {config.init_from!r}, but {source} does not exist: "
                              f"train {config.init_from!r} first")
        model = MultiTaskSentenceTransformer.load(source)
        all_tasks = list(model.tasks)
        prepared, _, validation = load_task_data(all_tasks, Path(splits_dir), None)
        stale = [t for t in all_tasks if list(model.tasks[t]) != prepared[t]]
        if stale:  # the heads' outputs would be read as other labels
            raise ConfigError(f"variant {variant!r} starts from {source}, whose labels for {stale} "
                              f"({[list(model.tasks[t]) for t in stale]}) are not the prepared data's "
                              f"({[prepared[t] for t in stale]}): train {config.init_from!r} again on these splits")
    else:
        m = params.model
        model = MultiTaskSentenceTransformer(labels, encoder=m.encoder, head=m.head, head_hidden=m.head_hidden,
                                             head_dropout=m.head_dropout, max_length=m.max_length,
                                             encoder_dropout=m.encoder_dropout)

    if train_params.device == "cpu":
        model.to("cpu")
    else:
        model.to(dist.device if train_params.device == "auto" else train_params.device)
    train_params = train_params.model_copy(update={"bf16": resolve_bf16(train_params.bf16, model.device)})
    params = params.model_copy(update={"train": train_params})
    data = {f"{split}.{task}": fp.data_digest(d.texts, d.labels)
            for split, tasks in (("train", train), ("validation", validation)) for task, d in tasks.items()}
    if config.init_from:
        data["init_model"] = fp.folder_digest(source)
    fingerprint = fp.fingerprint(variant, config.model_dump(), train_params.model_dump(), params.model.model_dump(), data)
    with contextlib.ExitStack() as locks:
        if dist.is_main:  # one writer: rank 0 holds the locks, checks ownership and clears stale checkpoints
            locks.enter_context(folder_lock(out, "output folder"))
            locks.enter_context(folder_lock(checkpoints, "checkpoint folder"))
            ensure_owned(out)
            if not resume:
                remove_owned(checkpoints)
            ensure_owned(checkpoints, "checkpoint folder")
        dist.barrier()
        files = {task: str(train_file(task, Path(splits_dir), augmented_train)) for task in config.tasks}
        summary = _train(params, variant, model, train, validation, out, checkpoints, resume, show_progress, dist,
                         fingerprint, files, augmented_train is not None)
        if tracking is not None and tracking.enabled and dist.is_main:  # still holding the folder's lock
            summary["mlflow"] = log_training_run(out, Path(splits_dir), tracking, pipeline_params, pipeline_id)
    return summary


def log_training_run(out: Path, splits_dir: Path, tracking: TrackingParams, pipeline_params: dict[str, Any] | None,
                     pipeline_id: str | None) -> dict[str, Any]:
    """The finished train folder ``out`` as the training part of its variant's child run under the pipeline's
    parent run; returns the run ids."""
    from mtst import tracking as mt

    tracker = mt.Tracker.open(tracking)
    parent = mt.pipeline_run(tracker, pipeline_params, pipeline_id=pipeline_id)
    return mt.log_training(tracker, parent, out, tracking, splits_dir).dump()


def _train(params: Params, variant: str, model: MultiTaskSentenceTransformer, train: dict[str, TaskData],
           validation: dict[str, TaskData], out: Path, checkpoints: Path, resume: bool, show_progress: bool,
           dist: Distributed, fingerprint: dict[str, str], train_files: dict[str, str], augmented: bool) -> dict[str, Any]:
    config, train_params = params.train.variants[variant], params.train
    began = time.perf_counter()
    trainer = Trainer(model, variant, config, train_params, train, validation, checkpoints, dist, show_progress,
                      fingerprint)
    state = trainer.fit(resume=resume)
    wall = time.perf_counter() - began
    final = state.validation[config.stages[-1].name]
    retained: dict[str, float | None] = {}  # only for a variant that starts from another's model (task_a_retained stays out otherwise)
    if "initial" in state.validation and "task_a" in state.validation["initial"] and "task_a" in final:
        before, after = state.validation["initial"]["task_a"]["macro_f1"], final["task_a"]["macro_f1"]
        retained["task_a_retained"] = round(after / before, 4) if before else None
    summary = TrainSummary(
        variant=variant, description=config.description, tasks=list(model.tasks), trained_tasks=config.tasks,
        augmented=augmented, seed=train_params.seed, wall_s=round(sum(s["wall_s"] for s in state.stages), 3),
        process_wall_s=round(wall, 3), steps=state.global_step, world_size=dist.world_size,
        resumed_from_step=state.resumed_from_step, train_rows={t: len(d) for t, d in train.items()},
        train_files=train_files, validation=final, validation_by_stage=state.validation,
        params=TrainedParams(variant=config.model_dump(), train=train_params.model_dump(exclude={"variants"}),
                             model=params.model.model_dump()), recipe=fp.recipe(fingerprint), **retained)
    stages = Stages.model_validate(state.stages)
    if dist.is_main:
        with atomic_dir(out) as tmp:
            model.save(tmp / MODEL)
            write_jsonl(tmp / HISTORY, state.history)
            stages.write(tmp / STAGES)
            summary.write(tmp / SUMMARY)
        remove_owned(checkpoints)
    dist.barrier()
    return summary.dump()
