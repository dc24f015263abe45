"""DAG node ``evaluate``: one trained variant on the fixed test sets, then its MLflow child run.

Outputs (``out_dir``, default ``artifacts/eval/<variant>``, written atomically as one folder):

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

Kill-safe: the MLflow child run is logged from the unfinished folder, so ``mlflow.json`` lands with the rest in
one rename, and ``metrics_path`` is removed just before that rename and written after it: a kill leaves the
previous folder and metrics file, the previous folder alone, or the new folder alone, never a mix.

Throughput is timed on the same seeded sample of test sentences from every task for every variant, so a
multi-task model (one encoder pass serves both tasks) and single-task models are timed on equal input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtst.config import EvaluateParams, TrackingParams
from mtst.data.datasets import load_split, split_path
from mtst.evaluation import plots
from mtst.evaluation.errors import EvaluationError
from mtst.evaluation.metrics import classification_metrics, confusion_records, scalar_metrics
from mtst.evaluation.speed import measure_throughput, model_size
from mtst.io import atomic_dir, read_json, write_json, write_jsonl


def check_train_dir(train_dir: Path) -> dict[str, Any]:
    missing = [n for n in ("model/mtst.json", "train_summary.json") if not (train_dir / n).exists()]
    if missing:
        raise EvaluationError(f"{train_dir} is not a finished training folder (missing {', '.join(missing)}); "
                              "run `mtst train --variant <name>` first")
    return read_json(train_dir / "train_summary.json")


def throughput_sample(splits_dir: Path, split: str, n: int, seed: int) -> list[str]:
    """The same mixed sample of sentences from every task's split, whatever tasks a model has."""
    texts: list[str] = []
    for task in ("task_a", "task_b"):
        if split_path(splits_dir, task, split).exists():
            texts.extend(load_split(splits_dir, task, split)["text"].tolist())
    if not texts:
        raise EvaluationError(f"{splits_dir} holds no {split} split to time inference on")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in picked]


def evaluate_task(model: Any, task: str, frame: pd.DataFrame, params: EvaluateParams) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    labels = model.tasks[task]
    unknown = sorted(set(frame["label"]) - set(labels))
    if unknown:
        raise EvaluationError(f"{task}: the {params.split} split has labels {unknown} the model does not know "
                              f"(model labels: {labels})")
    index = {label: i for i, label in enumerate(labels)}
    y_true = frame["label"].map(index).to_numpy()
    embeddings = model.encode(frame["text"].tolist(), batch_size=params.batch_size)
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


def run(params: EvaluateParams, train_dir: str | Path, splits_dir: str | Path = "artifacts/splits",
        out_dir: str | Path | None = None, *, metrics_path: str | Path | None = None,
        tracking: TrackingParams | None = None, validation_dir: str | Path | None = None,
        pipeline_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate ``train_dir`` on the ``params.split`` split of ``splits_dir``; log it to MLflow when
    ``tracking`` is given and enabled. Returns the flat metrics (plus ``mlflow`` ids when tracked)."""
    from mtst import tracking as mt
    from mtst.model import MultiTaskSentenceTransformer

    train_dir, splits_dir = Path(train_dir), Path(splits_dir)
    summary = check_train_dir(train_dir)
    variant = str(summary.get("variant") or train_dir.name)
    out_dir = Path(out_dir) if out_dir else Path("artifacts/eval") / variant
    track = tracking is not None and tracking.enabled
    if track:
        mt.preflight(tracking)  # fail in seconds, before the model loads

    model = MultiTaskSentenceTransformer.load(train_dir / "model")
    report: dict[str, Any] = {}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for task in model.tasks:
        path = split_path(splits_dir, task, params.split)
        if not path.exists():
            raise EvaluationError(f"{path} not found: run `mtst data prepare` first")
        report[task], predictions[task] = evaluate_task(model, task, load_split(splits_dir, task, params.split), params)

    sample = throughput_sample(splits_dir, params.split, params.throughput_sentences, params.seed)
    speed = measure_throughput(model, sample, params.throughput_batch_size, params.throughput_repeats)
    size = model_size(model, train_dir / "model")

    metrics: dict[str, Any] = {}
    for task, task_report in report.items():
        metrics.update(scalar_metrics(task_report, task))
    if len(report) > 1:
        metrics["mean_macro_f1"] = float(np.mean([r["macro_f1"] for r in report.values()]))
    metrics.update({f"inference.{k}": v for k, v in speed.items()})
    metrics.update({f"model.{k}": v for k, v in size.items()})
    metrics["model.tasks"] = len(model.tasks)
    for key in ("wall_s", "steps"):
        if isinstance(summary.get(key), (int, float)):
            metrics[f"train.{key}"] = summary[key]
    metrics = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in sorted(metrics.items())}

    history = mt.read_history(train_dir / "history.jsonl")
    stages = read_json(train_dir / "stages.json") if (train_dir / "stages.json").exists() else []
    variant_info = {
        "variant": variant, "description": summary.get("description", ""), "tasks": list(model.tasks),
        "labels": model.tasks, "train_dir": str(train_dir), "model_dir": str(train_dir / "model"),
        "splits_dir": str(splits_dir), "split": params.split, "wall_s": summary.get("wall_s"),
        "steps": summary.get("steps"), "augmented": summary.get("augmented"), "seed": summary.get("seed"),
        "params": summary.get("params") or {}, "validation": summary.get("validation") or {},
        "stages": [{k: s.get(k) for k in ("name", "start_step", "end_step", "wall_s")} for s in stages],
    }
    result: dict[str, Any] = dict(metrics)
    with atomic_dir(out_dir) as tmp:
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "report.json", {"variant": variant, "split": params.split, "tasks": report,
                                         "inference": speed, "model": size})
        write_json(tmp / "variant.json", variant_info)
        for task, rows in predictions.items():
            write_jsonl(tmp / "predictions" / f"{task}.jsonl", rows)
            write_json(tmp / "plots" / f"confusion_{task}.json",
                       confusion_records([r["label"] for r in rows], [r["predicted"] for r in rows]))
            plots.plot_confusion(report[task]["confusion"]["matrix"], report[task]["confusion"]["labels"],
                                 f"{variant}: {task} ({params.split}, macro-F1 {report[task]['macro_f1']:.3f})",
                                 tmp / "plots" / f"confusion_{task}.png")
        if history:
            plots.plot_loss(history, stages, f"{variant}: training loss per task", tmp / "plots" / "loss.png")
        if track:  # logged from the unfinished folder, so mlflow.json is part of the one rename below
            tracker = mt.Tracker.open(tracking)
            parent = tracker.pipeline_run(pipeline_params, validation_dir)
            extra = param_items_for_evaluate(params)
            info = mt.log_variant(tracker, parent, train_dir, tmp, metrics, tracking, extra,
                                  example_texts=sample[:3], model=model)
            write_json(tmp / "mlflow.json", info)
            result["mlflow"] = info
        if metrics_path:  # never the new folder next to the old metrics file: that goes first, the new one last
            Path(metrics_path).unlink(missing_ok=True)
    if metrics_path:
        write_json(metrics_path, metrics)
    return result


def param_items_for_evaluate(params: EvaluateParams) -> dict[str, Any]:
    return {f"evaluate.{k}": v for k, v in json.loads(params.model_dump_json()).items()}
