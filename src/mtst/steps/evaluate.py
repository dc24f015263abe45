"""DAG node ``evaluate``: one trained variant on the fixed test sets, then the evaluation part of its MLflow
child run (``mtst.tracking.variant.log_evaluation``; the training part is ``train``'s).

Outputs (``out_dir``, default ``mtst.dag.LAYOUT.evaluation(variant)``, written atomically as one folder; the JSON records are
the models of ``mtst.contracts.evaluation``):

- ``metrics.json``: flat keys, e.g. ``task_a.macro_f1``, ``task_b.domain.tweets.macro_f1``, ``task_b.ece``,
  ``task_a.class.sports.f1``, ``mean_macro_f1`` (multi-task variants), ``inference.sentences_per_s``,
  ``model.parameters``, ``model.size_mb``, ``train.wall_s``. The same dict is also written to
  ``metrics_path`` when given (the CLI defaults it to ``metrics/<variant>.json``, DVC's metrics file).
- ``report.json``: the nested metrics incl. confusion matrices; ``variant.json``: what the comparison
  needs from training (description, params, wall time, tasks, labels, model folder).
- ``predictions/<task>.jsonl``: per test row id, true and predicted label, probabilities.
- ``plots/confusion_<task>.json`` (DVC confusion template: ``[{"actual": ..., "predicted": ...}]``),
  ``plots/confusion_<task>.png``, ``plots/loss.png`` (loss per task over steps, stage boundaries marked).
- ``mlflow.json``: the run ids and model URI, when tracking is on (see ``mtst.tracking``).

The train folder is read through ``mtst.contracts.training``: a hand-edited or truncated record stops the step
with a ``ContractError`` naming the file and the field (exit code 2) before the model loads.

Kill-safe: the evaluation is logged from the unfinished folder, so ``mlflow.json`` lands with the rest in
one rename, and ``metrics_path`` is removed just before that rename and written after it: a kill leaves the
previous folder and metrics file, the previous folder alone, or the new folder alone, never a mix.

Throughput is timed on the same seeded sample of test sentences from every task for every variant
(``mtst.evaluation.sampling``), so multi-task and single-task models are timed on equal input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtst.config import EvaluateParams, TrackingParams
from mtst.contracts.evaluation import MLFLOW, METRICS, REPORT, VARIANT, EvaluationReport, Metrics, MlflowInfo, \
    StageSpan, VariantInfo
from mtst.contracts.training import MODEL, SUMMARY, StageRecord, TrainFolder, TrainSummary
from mtst.data.datasets import load_split, split_path
from mtst.evaluation import plots
from mtst.evaluation.errors import EvaluationError
from mtst.evaluation.metrics import classification_metrics, confusion_records, scalar_metrics
from mtst.evaluation.sampling import throughput_sample
from mtst.evaluation.speed import measure_throughput, model_size
from mtst.evaluation.testset import rows_digest
from mtst.io import atomic_dir, write_json, write_jsonl
from mtst.locking import folder_lock
from mtst.dag import LAYOUT


@dataclass
class Trained:
    """The train folder's records, read and checked before the model loads."""

    folder: TrainFolder
    summary: TrainSummary
    stages: list[StageRecord]
    history: list[dict[str, Any]]


@dataclass
class Scored:
    """A model's results on the test split: nested metrics per task, prediction rows per task, inference cost."""

    report: dict[str, dict[str, Any]]
    predictions: dict[str, list[dict[str, Any]]]
    sample: list[str]
    speed: dict[str, Any]
    size: dict[str, Any]


def check_train_dir(train_dir: Path) -> TrainFolder:
    """``train_dir`` as a finished train folder (its model and summary written), else an ``EvaluationError``."""
    folder = TrainFolder(train_dir)
    missing = [n for n in (f"{MODEL}/mtst.json", SUMMARY) if not (train_dir / n).exists()]
    if missing:
        raise EvaluationError(f"{train_dir} is not a finished training folder (missing {', '.join(missing)}); "
                              "run `mtst train --variant <name>` first")
    return folder


def load_trained(train_dir: Path) -> Trained:
    folder = check_train_dir(train_dir)
    return Trained(folder, folder.summary(), folder.stages(), folder.history())


def untrained_encoder(model: Any, trained: Trained, params: EvaluateParams) -> str | None:
    """The encoder's fingerprint when its test embeddings may come from the embedding cache
    (``mtst.training.cache``, its fp32 entries): the torch backend, and an encoder no stage trained (every stage
    on cached embeddings, as ``frozen``'s), which every such variant and learning-curve point then shares, so a
    test split is encoded once for all of them. ``None``: encode as usual."""
    if params.backend != "torch" or not trained.stages or not all(s.cached_embeddings for s in trained.stages):
        return None
    from mtst.training.cache import encoder_fingerprint

    return encoder_fingerprint(model)


def evaluate_task(model: Any, task: str, frame: pd.DataFrame, params: EvaluateParams,
                  cache_key: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    labels = model.tasks[task]
    unknown = sorted(set(frame["label"]) - set(labels))
    if unknown:
        raise EvaluationError(f"{task}: the {params.split} split has labels {unknown} the model does not know "
                              f"(model labels: {labels})")
    index = {label: i for i, label in enumerate(labels)}
    y_true = frame["label"].map(index).to_numpy()
    if cache_key is None:
        embeddings = model.encode(frame["text"].tolist(), batch_size=params.batch_size)
    else:
        from mtst.training.cache import cached_embeddings

        embeddings = cached_embeddings(model, frame["text"].tolist(), params.batch_size, cache_key).numpy()
    proba = model.predict_proba_from_embeddings(embeddings, task)
    report = classification_metrics(y_true, proba, labels, params.ece_bins)
    if "domain" in frame.columns:
        report["domain"] = {}
        for domain in sorted(frame["domain"].dropna().unique()):
            mask = (frame["domain"] == domain).to_numpy()
            part = classification_metrics(y_true[mask], proba[mask], labels, params.ece_bins)
            report["domain"][str(domain)] = {k: part[k] for k in ("n", "accuracy", "macro_f1", "ece")}
    predicted = [labels[i] for i in proba.argmax(axis=1)]
    rows = []
    for i, row in enumerate(frame.itertuples(index=False)):
        record = {"id": str(getattr(row, "id", i)), "label": row.label, "predicted": predicted[i],
                  "proba": [round(float(p), 6) for p in proba[i]]}
        if "domain" in frame.columns:
            record["domain"] = row.domain
        rows.append(record)
    return report, rows


def score(model: Any, model_dir: Path, splits_dir: Path, params: EvaluateParams, cache_key: str | None = None) -> Scored:
    """Every head on its test split (its embeddings from the cache under ``cache_key``: ``untrained_encoder``),
    then throughput on the shared sample and the model's size."""
    report: dict[str, dict[str, Any]] = {}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for task in model.tasks:
        path = split_path(splits_dir, task, params.split)
        if not path.exists():
            raise EvaluationError(f"{path} not found: run `mtst data prepare` first")
        report[task], predictions[task] = evaluate_task(model, task, load_split(splits_dir, task, params.split), params,
                                                        cache_key)
    sample = throughput_sample(splits_dir, params.split, params.throughput_sentences, params.seed)
    speed = measure_throughput(model, sample, params.throughput_batch_size, params.throughput_repeats)
    size = model_size(model, model_dir) if params.backend == "torch" else model.size()
    return Scored(report, predictions, sample, speed, size)


def flat_metrics(scored: Scored, n_tasks: int, summary: TrainSummary) -> Metrics:
    """``metrics.json``: every scalar of the report, the mean macro-F1 of a multi-task model, inference cost,
    model size and training cost, floats rounded to 6 places."""
    metrics: dict[str, Any] = {}
    for task, task_report in scored.report.items():
        metrics.update(scalar_metrics(task_report, task))
    if len(scored.report) > 1:
        metrics["mean_macro_f1"] = float(np.mean([r["macro_f1"] for r in scored.report.values()]))
    metrics.update({f"inference.{k}": v for k, v in scored.speed.items()})
    metrics.update({f"model.{k}": v for k, v in scored.size.items()})
    metrics["model.tasks"] = n_tasks
    metrics["train.wall_s"], metrics["train.steps"] = summary.wall_s, summary.steps
    return Metrics({k: (round(v, 6) if isinstance(v, float) else v) for k, v in sorted(metrics.items())})


def variant_info(trained: Trained, labels: dict[str, list[str]], splits_dir: Path, params: EvaluateParams) -> VariantInfo:
    """``variant.json``: what the comparison needs from training, so it reads no train folder."""
    summary = trained.summary
    return VariantInfo(
        variant=summary.variant, description=summary.description, tasks=list(labels), labels=labels,
        train_dir=str(trained.folder.path), model_dir=str(trained.folder.model_dir), splits_dir=str(splits_dir),
        split=params.split, backend=params.backend, wall_s=summary.wall_s, steps=summary.steps,
        augmented=summary.augmented, seed=summary.seed,
        params=summary.params.model_dump(), validation=summary.validation, recipe=summary.recipe,
        stages=[StageSpan(name=s.name, start_step=s.start_step, end_step=s.end_step, wall_s=s.wall_s)
                for s in trained.stages])


def write_eval_folder(folder: Path, trained: Trained, scored: Scored, metrics: Metrics, info: VariantInfo,
                      split: str) -> None:
    """The records, predictions and plots of one evaluation into ``folder`` (the unfinished output folder)."""
    variant = info.variant
    metrics.write(folder / METRICS)
    EvaluationReport.model_validate({"variant": variant, "split": split, "tasks": scored.report,
                                     "inference": scored.speed, "model": scored.size}).write(folder / REPORT)
    info.write(folder / VARIANT)
    for task, rows in scored.predictions.items():
        write_jsonl(folder / "predictions" / f"{task}.jsonl", rows)
        write_json(folder / "plots" / f"confusion_{task}.json",
                   confusion_records([r["label"] for r in rows], [r["predicted"] for r in rows]))
        confusion = scored.report[task]["confusion"]
        plots.plot_confusion(confusion["matrix"], confusion["labels"],
                             f"{variant}: {task} ({split}, macro-F1 {scored.report[task]['macro_f1']:.3f})",
                             folder / "plots" / f"confusion_{task}.png")
    if trained.history:
        plots.plot_loss(trained.history, trained.stages, f"{variant}: training loss per task",
                        folder / "plots" / "loss.png")


def log_to_mlflow(folder: Path, trained: Trained, scored: Scored, metrics: Metrics, params: EvaluateParams,
                  tracking: TrackingParams, model: Any, pipeline_params: dict[str, Any] | None,
                  pipeline_id: str | None) -> MlflowInfo:
    """The evaluation part of the variant's child run under the pipeline's parent run, logged from the
    unfinished ``folder`` (the training part is train's, logged again here only where it is missing)."""
    from mtst import tracking as mt

    tracker = mt.Tracker.open(tracking)
    parent = mt.pipeline_run(tracker, pipeline_params, pipeline_id=pipeline_id)
    tested = rows_digest(params.split, {task: [(r["id"], r["label"]) for r in rows]
                                        for task, rows in scored.predictions.items()})
    return mt.log_evaluation(tracker, parent, trained.folder.path, folder, metrics.root, tracking,
                             param_items_for_evaluate(params), example_texts=scored.sample[:3], model=model,
                             backend=params.backend, tags={mt.TEST_DATA_HASH: tested} if tested else None)


def run(params: EvaluateParams, train_dir: str | Path, splits_dir: str | Path = LAYOUT.splits,
        out_dir: str | Path | None = None, *, metrics_path: str | Path | None = None,
        tracking: TrackingParams | None = None, pipeline_params: dict[str, Any] | None = None, pipeline_id: str | None = None) -> dict[str, Any]:
    """Evaluate ``train_dir`` on the ``params.split`` split of ``splits_dir``; log it to MLflow when
    ``tracking`` is given and enabled, under the parent run of the pipeline run ``pipeline_id`` (None: the
    default identity, ``mtst.tracking.default_pipeline_id``). Returns the flat metrics (plus ``mlflow`` ids
    when tracked)."""
    from mtst import tracking as mt
    from mtst.export.backend import calibration_for, load_backend

    train_dir, splits_dir = Path(train_dir), Path(splits_dir)
    trained = load_trained(train_dir)
    out_dir = Path(out_dir) if out_dir else Path(LAYOUT.evaluation(trained.summary.variant))
    with folder_lock(out_dir, "output folder"):  # the whole step: a second evaluation of one folder stops at once
        track = tracking is not None and tracking.enabled
        if track:
            mt.preflight(tracking)  # fail in seconds, before the model loads

        calibration = calibration_for([params.backend], splits_dir, trained.summary.tasks)  # openvino-int8 only
        model = load_backend(trained.folder.model_dir, params.backend, calibration=calibration)  # exported once, cached
        params = params.model_copy(update={"backend": getattr(model, "backend", "torch")})  # what runs (bf16 may not)
        scored = score(model, trained.folder.model_dir, splits_dir, params, untrained_encoder(model, trained, params))
        metrics = flat_metrics(scored, len(model.tasks), trained.summary)
        result: dict[str, Any] = dict(metrics.root)
        with atomic_dir(out_dir) as tmp:
            write_eval_folder(tmp, trained, scored, metrics, variant_info(trained, model.tasks, splits_dir, params),
                              params.split)
            if track:  # logged from the unfinished folder, so mlflow.json is part of the one rename below
                info = log_to_mlflow(tmp, trained, scored, metrics, params, tracking, model, pipeline_params, pipeline_id)
                info.write(tmp / MLFLOW)
                result["mlflow"] = info.dump()
            if metrics_path:  # never the new folder next to the old metrics file: that goes first, the new one last
                Path(metrics_path).unlink(missing_ok=True)
        if metrics_path:
            metrics.write(metrics_path)
        return result


def param_items_for_evaluate(params: EvaluateParams) -> dict[str, Any]:
    """The evaluation's own settings, logged beside the training config (``evaluate.split`` ...)."""
    return {f"evaluate.{k}": v for k, v in json.loads(params.model_dump_json()).items()}
