"""One freeze variant's child run under the pipeline's parent run, with one nested run per training stage.

The inputs are the variant's train folder (``train_summary.json``, ``stages.json``, ``history.jsonl``, read through
``mtst.contracts.training``) and its unfinished eval folder (the test metrics, records and plots).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mtst.config import TrackingParams
from mtst.contracts.evaluation import METRICS, REPORT, VARIANT as VARIANT_FILE, MlflowInfo, VariantInfo
from mtst.contracts.training import HISTORY, STAGES, SUMMARY, StageRecord, TrainFolder, TrainSummary
from mtst.evaluation.flatten import flatten
from mtst.redaction import redact_uri
from mtst.tracking.datasets import log_inputs, variant_inputs
from mtst.tracking.layout import ROLE, STAGE, VARIANT, common_tags, drop_variant_runs
from mtst.tracking.store import Tracker, guard
from mtst.tracking.values import numeric, param_items

HISTORY_SKIP = {"step", "stage"}  # a history record's coordinates, not metrics


def log_variant(tracker: Tracker, parent_id: str, train_dir: str | Path, eval_dir: str | Path,
                metrics: Mapping[str, Any], params: TrackingParams, extra_params: Mapping[str, Any] | None = None,
                example_texts: list[str] | None = None, model: Any = None,
                root: str | Path | None = None, backend: str = "torch",
                tags: Mapping[str, str] | None = None) -> MlflowInfo:
    """The variant's child run (replacing an earlier one under the same parent) with one nested run per stage.

    Child: params (the variant's effective training config, flattened, plus ``extra_params``), the split files
    it trained and was tested on as dataset inputs (``mtst.tracking.datasets``), per-step curves from
    history.jsonl, ``stage_index`` at stage boundaries, the test metrics, plots, the training and
    evaluation records as artifacts, and the model as a pyfunc served by ``backend``; ``tags`` on the child
    only (the recipe and test-set digests the comparison finds a variant's other seeds by). Stage runs: the
    stage's params and curves.
    A store failure on the way raises ``TrackingError``; the re-run replaces the half-logged child.
    """
    train = TrainFolder(train_dir)
    summary, stages, history = train.summary(), train.stages(), train.history()
    variant = summary.variant
    with guard(tracker.uri, f"logging variant {variant!r} (child of pipeline run {parent_id})"):
        drop_variant_runs(tracker, parent_id, variant)
        shared = {VARIANT: variant, **common_tags(root)}  # the child's and its stage runs'
        run_id = _child_run(tracker, parent_id, summary, stages, {**shared, **(tags or {})})
        tracker.log_params(run_id, _run_params(summary, extra_params))
        log_inputs(tracker.client, run_id, variant_inputs(summary, VariantInfo.read(Path(eval_dir) / VARIANT_FILE)))
        last_step = max((int(r["step"]) for r in history), default=summary.steps)
        curve = thin_history(history, params.curve_points) if params.log_step_metrics else []
        logged = _log_curves(tracker, run_id, curve, history, stages)
        tracker.log_metrics(run_id, _final_metrics(summary, metrics, last_step))
        stage_runs = {stage.name: _stage_run(tracker, run_id, variant, index, stage, history, curve, shared)
                      for index, stage in enumerate(stages)}
        _log_records(tracker, run_id, train.path, Path(eval_dir))
        model_uri = _log_model(tracker, run_id, train.model_dir, model, example_texts, backend) \
            if params.log_model else None
        tracker.client.set_terminated(run_id, "FINISHED")
    return MlflowInfo(tracking_uri=redact_uri(tracker.uri), experiment_id=tracker.experiment_id,
                      parent_run_id=parent_id, run_id=run_id, stage_run_ids=stage_runs, model_uri=model_uri,
                      variant=variant, history_metrics=logged)


def history_metrics(history: Iterable[Mapping[str, Any]]) -> Iterable[tuple[str, float, int]]:
    """Every numeric field of every step record, at its step (``loss/<task>``, ``lr/<group>``, ``p/<task>``...)."""
    for record in history:
        step = int(record["step"])
        for key, value in record.items():
            if key not in HISTORY_SKIP and numeric(value):
                yield key, float(value), step


def thin_history(history: list[dict[str, Any]], points: int | None) -> list[dict[str, Any]]:
    """At most about ``points`` evenly spaced step records, plus every stage's first and last step.

    A run logs one value per metric per step: the staged variant's 4,800 steps x ~10 curves, twice (child and
    stage runs), took 14 s of a 50 s evaluation in SQLite, while the MLflow UI draws at most ~1,000 points a
    curve anyway. The stage boundaries stay, so a curve starts and ends where its stage does."""
    if points is None or len(history) <= points:
        return history
    stride = -(-len(history) // points)
    edges = {i for i, r in enumerate(history) if i in (0, len(history) - 1)
             or r.get("stage_index") != history[i - 1].get("stage_index")
             or r.get("stage_index") != history[min(i + 1, len(history) - 1)].get("stage_index")}
    return [r for i, r in enumerate(history) if i % stride == 0 or i in edges]


def _child_run(tracker: Tracker, parent_id: str, summary: TrainSummary, stages: Sequence[StageRecord],
               tags: Mapping[str, str]) -> str:
    return tracker.create_run(summary.variant, {
        **tags, ROLE: "variant", "mtst.stages": ",".join(s.name for s in stages), STAGE: "evaluate",
        "mtst.tasks": ",".join(summary.tasks), "mtst.augmented": str(summary.augmented).lower(),
        "mlflow.note.content": summary.description}, parent=parent_id)


def _run_params(summary: TrainSummary, extra_params: Mapping[str, Any] | None) -> dict[str, str]:
    """The variant's effective config as the trainer recorded it (``model.*``, ``train.*``,
    ``variant.stages.0.lr_head`` ...), its seed and tasks, and the evaluation's own settings."""
    params = {"variant_name": summary.variant, "seed": summary.seed, "augmented": summary.augmented,
              "tasks": summary.tasks, **summary.params.model_dump(), **(extra_params or {})}
    return param_items({k: v for k, v in params.items() if v is not None})


def _log_curves(tracker: Tracker, run_id: str, curve: list[dict[str, Any]], history: list[dict[str, Any]],
                stages: Sequence[StageRecord]) -> int:
    """The curves (``curve``: the thinned history, empty without ``tracking.log_step_metrics``) and
    ``stage_index`` at each stage's first and last step, unless history.jsonl has it per step. Returns how
    many history metrics were logged."""
    logged = tracker.log_metrics(run_id, history_metrics(curve)) if curve else 0
    if not any("stage_index" in r for r in history):
        tracker.log_metrics(run_id, [("stage_index", float(index), step) for index, stage in enumerate(stages)
                                     for step in (stage.start_step, stage.end_step)])
    return logged


def _final_metrics(summary: TrainSummary, metrics: Mapping[str, Any], step: int) -> list[tuple[str, Any, int]]:
    """The test metrics, training time and steps, and the last validation scores, at the last step."""
    final = [(f"test.{k}", v, step) for k, v in metrics.items()]
    final += [("train.wall_s", summary.wall_s, step), ("train.steps", summary.steps, step)]
    validation = {task: score.model_dump() for task, score in summary.validation.items()}
    final += [(f"val.{k}", v, step) for k, v in flatten(validation).items()]
    return final


def _stage_run(tracker: Tracker, parent_id: str, variant: str, index: int, stage: StageRecord,
               history: list[dict[str, Any]], curve: list[dict[str, Any]], tags: Mapping[str, str]) -> str:
    """A nested run for one training stage: its params, wall time, step range and its part of ``curve``
    (the thinned history; empty: no curves), the records picked by their ``stage`` field."""
    run_id = tracker.create_run(f"{variant}:{stage.name}", {**tags, ROLE: "stage", STAGE: stage.name,
                                                            "mtst.stage_index": index}, parent=parent_id)
    tracker.log_params(run_id, param_items({"stage": stage.name, "index": index, **stage.params}))
    records = [r for r in history if str(r.get("stage")) == stage.name]
    metrics: list[tuple[str, float, int]] = [(k, float(getattr(stage, k)), stage.end_step)
                                             for k in ("wall_s", "start_step", "end_step")]
    metrics.append(("steps", float(len(records)), stage.end_step))
    metrics.extend(history_metrics(r for r in curve if str(r.get("stage")) == stage.name))
    tracker.log_metrics(run_id, metrics)
    tracker.client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_records(tracker: Tracker, run_id: str, train_dir: Path, eval_dir: Path) -> None:
    """The training and evaluation records as artifacts, and the plots."""
    for name in (SUMMARY, STAGES, HISTORY):
        if (train_dir / name).exists():
            tracker.client.log_artifact(run_id, str(train_dir / name), "training")
    for name in (METRICS, REPORT, VARIANT_FILE):
        if (eval_dir / name).exists():
            tracker.client.log_artifact(run_id, str(eval_dir / name), "evaluation")
    if (eval_dir / "plots").is_dir():
        tracker.client.log_artifacts(run_id, str(eval_dir / "plots"), "plots")


def _log_model(tracker: Tracker, run_id: str, model_dir: Path, model: Any, example_texts: list[str] | None,
               backend: str = "torch") -> str | None:
    """The model as an MLflow pyfunc on the child run (tag ``mtst.model_uri``); None without a model."""
    import mlflow

    from mtst.serving import log_pyfunc

    if model is None:
        return None
    with mlflow.start_run(run_id=run_id):
        model_uri = log_pyfunc(model_dir, model, example_texts or ["An example sentence."], backend=backend).model_uri
    tracker.set_tags(run_id, {"mtst.model_uri": model_uri})
    return model_uri
