"""One freeze variant's child run under the pipeline's parent run, with one nested run per training stage,
recorded by the step that produced each part of it:

- ``log_training`` (``mtst train``, from the finished train folder: ``train_summary.json``, ``stages.json``,
  ``history.jsonl``, read through ``mtst.contracts.training``) replaces the variant's child and stage runs
  under the parent and logs the training part: params, training splits, curves, ``train.*``/``val.*``
  metrics, the stage runs and the training records;
- ``log_evaluation`` (``mtst evaluate``, from its unfinished eval folder) adds the evaluation part to that
  child: the evaluation's settings, test splits and metrics, plots, records and the pyfunc model.

The child is found by parent + ``mtst.variant``. ``log_evaluation`` reuses it only when it is a finished
training record of this very train folder (same params and training time) not yet evaluated; otherwise (trained
with ``--no-track``, retrained since, half-logged, or evaluated before, whose ``evaluate.*`` params MLflow
would refuse to change) it logs the training part again first. So any order of re-runs leaves exactly one child
per variant. The child's ``mtst.stage`` tag says how far it got: ``train``, then ``evaluate`` (set before the
evaluation logs anything, so a crash in between reads as "evaluated" and is replaced).
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
from mtst.run_tags import (AUGMENTED, MODEL_URI, RECIPE, ROLE, STAGE, STAGE_INDEX, STAGES as STAGES_TAG, TASKS,
                           VARIANT)
from mtst.tracking.datasets import log_inputs, testing_inputs, training_inputs
from mtst.tracking.layout import common_tags, drop_variant_runs, variant_runs
from mtst.tracking.store import Tracker, guard
from mtst.tracking.values import numeric, param_items

HISTORY_SKIP = {"step", "stage"}  # a history record's coordinates, not metrics
TRAINED, EVALUATED = "train", "evaluate"  # the child's ``mtst.stage``: how far its record got


def log_training(tracker: Tracker, parent_id: str, train_dir: str | Path, params: TrackingParams,
                 splits_dir: str | Path, root: str | Path | None = None, finish: bool = True) -> MlflowInfo:
    """The variant's child run (replacing earlier ones under the same parent) with one nested run per stage,
    holding what training produced.

    Child: params (the variant's effective training config, flattened), the split files it trained on as
    dataset inputs (``splits_dir``: where they lie when the summary predates ``train_files``), per-step curves
    from history.jsonl, ``stage_index`` at stage boundaries, ``train.wall_s``/``train.steps`` and the last
    validation scores, the training records as artifacts, and ``mtst.recipe`` (how the comparison finds a
    variant's other seeds). Stage runs: the stage's params and curves. The child is finished, tagged
    ``mtst.stage=train``, only when all of it is logged (``finish``: False when the evaluation goes on logging
    into it, so a failure before that ends leaves it unfinished, to be replaced). A store failure raises
    ``TrackingError``."""
    train = TrainFolder(train_dir)
    summary, stages, history = train.summary(), train.stages(), train.history()
    variant = summary.variant
    with guard(tracker.uri, f"logging the training of variant {variant!r} (child of pipeline run {parent_id})"):
        drop_variant_runs(tracker, parent_id, variant)
        shared = {VARIANT: variant, **common_tags(root)}  # the child's and its stage runs'
        recipe = {RECIPE: summary.recipe} if summary.recipe else {}
        run_id = _child_run(tracker, parent_id, summary, stages, {**shared, **recipe})
        tracker.log_params(run_id, training_params(summary))
        log_inputs(tracker.client, run_id, training_inputs(summary, splits_dir))
        curve = _curve(history, params)
        logged = _log_curves(tracker, run_id, curve, history, stages)
        tracker.log_metrics(run_id, _training_metrics(summary, last_step(summary, history)))
        stage_runs = {stage.name: _stage_run(tracker, run_id, variant, index, stage, history, curve, shared)
                      for index, stage in enumerate(stages)}
        for name in (SUMMARY, STAGES, HISTORY):
            if (train.path / name).exists():
                tracker.client.log_artifact(run_id, str(train.path / name), "training")
        if finish:
            tracker.client.set_terminated(run_id, "FINISHED")
    return MlflowInfo(tracking_uri=redact_uri(tracker.uri), experiment_id=tracker.experiment_id,
                      parent_run_id=parent_id, run_id=run_id, stage_run_ids=stage_runs, model_uri=None,
                      variant=variant, history_metrics=logged)


def log_evaluation(tracker: Tracker, parent_id: str, train_dir: str | Path, eval_dir: str | Path,
                   metrics: Mapping[str, Any], params: TrackingParams, extra_params: Mapping[str, Any] | None = None,
                   example_texts: list[str] | None = None, model: Any = None,
                   root: str | Path | None = None, backend: str = "torch",
                   tags: Mapping[str, str] | None = None) -> MlflowInfo:
    """The evaluation part of the variant's child run: ``extra_params`` (the evaluation's settings), the
    evaluated split files as dataset inputs, the test metrics at the last training step, the evaluation records
    and plots as artifacts, the model as a pyfunc served by ``backend``, and ``tags`` (the test-set digest).
    The child is the one ``log_training`` left when it still records this train folder unevaluated; else the
    training part is logged again first (see the module). A store failure raises ``TrackingError``."""
    train = TrainFolder(train_dir)
    summary, history = train.summary(), train.history()
    eval_dir = Path(eval_dir)
    info = VariantInfo.read(eval_dir / VARIANT_FILE)
    what = f"logging the evaluation of variant {summary.variant!r} (child of pipeline run {parent_id})"
    with guard(tracker.uri, what):
        trained = _trained_child(tracker, parent_id, summary, params, history)
    if trained is None:
        trained = log_training(tracker, parent_id, train_dir, params, info.splits_dir, root, finish=False)
    run_id = trained.run_id
    with guard(tracker.uri, what):
        tracker.set_tags(run_id, {STAGE: EVALUATED})  # first: a crash from here on reads as "evaluated"
        tracker.client.update_run(run_id, status="RUNNING")  # being logged again, until set_terminated below
        tracker.log_params(run_id, param_items(dict(extra_params or {})))
        log_inputs(tracker.client, run_id, testing_inputs(info))
        step = last_step(summary, history)
        tracker.log_metrics(run_id, [(f"test.{k}", v, step) for k, v in metrics.items()])
        for name in (METRICS, REPORT, VARIANT_FILE):
            if (eval_dir / name).exists():
                tracker.client.log_artifact(run_id, str(eval_dir / name), "evaluation")
        if (eval_dir / "plots").is_dir():
            tracker.client.log_artifacts(run_id, str(eval_dir / "plots"), "plots")
        model_uri = _log_model(tracker, run_id, train.model_dir, model, example_texts, backend) \
            if params.log_model else None
        if tags:
            tracker.set_tags(run_id, tags)
        tracker.client.set_terminated(run_id, "FINISHED")
    return trained.model_copy(update={"model_uri": model_uri})


def training_params(summary: TrainSummary) -> dict[str, str]:
    """The variant's effective config as the trainer recorded it (``model.*``, ``train.*``,
    ``variant.stages.0.lr_head`` ...), its seed and tasks."""
    params = {"variant_name": summary.variant, "seed": summary.seed, "augmented": summary.augmented,
              "tasks": summary.tasks, **summary.params.model_dump()}
    return param_items({k: v for k, v in params.items() if v is not None})


def last_step(summary: TrainSummary, history: list[dict[str, Any]]) -> int:
    """The step the final metrics are logged at: the last step of history.jsonl (the summary's count without)."""
    return max((int(r["step"]) for r in history), default=summary.steps)


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
        **tags, ROLE: "variant", STAGES_TAG: ",".join(s.name for s in stages), STAGE: TRAINED,
        TASKS: ",".join(summary.tasks), AUGMENTED: str(summary.augmented).lower(),
        "mlflow.note.content": summary.description}, parent=parent_id)


def _trained_child(tracker: Tracker, parent_id: str, summary: TrainSummary, params: TrackingParams,
                   history: list[dict[str, Any]]) -> MlflowInfo | None:
    """The variant's only child when it is a finished, unevaluated record of this train folder (its training
    params and ``train.wall_s`` match the summary), with its stage runs; else None."""
    runs = variant_runs(tracker, parent_id, summary.variant)
    if len(runs) != 1:
        return None
    run = runs[0]
    recorded = run.data.params
    if (run.info.status != "FINISHED" or run.data.tags.get(STAGE) != TRAINED
            or run.data.metrics.get("train.wall_s") != float(summary.wall_s)
            or any(recorded.get(k) != v for k, v in training_params(summary).items())):
        return None
    stage_runs = {r.data.tags.get(STAGE, ""): r.info.run_id
                  for r in tracker.children(run.info.run_id, f"tags.`{ROLE}` = 'stage'")}
    return MlflowInfo(tracking_uri=redact_uri(tracker.uri), experiment_id=tracker.experiment_id,
                      parent_run_id=parent_id, run_id=run.info.run_id, stage_run_ids=stage_runs, model_uri=None,
                      variant=summary.variant, history_metrics=sum(1 for _ in history_metrics(_curve(history, params))))


def _curve(history: list[dict[str, Any]], params: TrackingParams) -> list[dict[str, Any]]:
    """The step records logged as curves: the thinned history, none without ``tracking.log_step_metrics``."""
    return thin_history(history, params.curve_points) if params.log_step_metrics else []


def _training_metrics(summary: TrainSummary, step: int) -> list[tuple[str, Any, int]]:
    """Training time and steps, and the last validation scores, at the last step."""
    final: list[tuple[str, Any, int]] = [("train.wall_s", summary.wall_s, step), ("train.steps", summary.steps, step)]
    validation = {task: score.model_dump() for task, score in summary.validation.items()}
    final += [(f"val.{k}", v, step) for k, v in flatten(validation).items()]
    return final


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


def _stage_run(tracker: Tracker, parent_id: str, variant: str, index: int, stage: StageRecord,
               history: list[dict[str, Any]], curve: list[dict[str, Any]], tags: Mapping[str, str]) -> str:
    """A nested run for one training stage: its params, wall time, step range and its part of ``curve``
    (the thinned history; empty: no curves), the records picked by their ``stage`` field."""
    run_id = tracker.create_run(f"{variant}:{stage.name}", {**tags, ROLE: "stage", STAGE: stage.name,
                                                            STAGE_INDEX: index}, parent=parent_id)
    tracker.log_params(run_id, param_items({"stage": stage.name, "index": index, **stage.params}))
    records = [r for r in history if str(r.get("stage")) == stage.name]
    metrics: list[tuple[str, float, int]] = [(k, float(getattr(stage, k)), stage.end_step)
                                             for k in ("wall_s", "start_step", "end_step")]
    metrics.append(("steps", float(len(records)), stage.end_step))
    metrics.extend(history_metrics(r for r in curve if str(r.get("stage")) == stage.name))
    tracker.log_metrics(run_id, metrics)
    tracker.client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_model(tracker: Tracker, run_id: str, model_dir: Path, model: Any, example_texts: list[str] | None,
               backend: str = "torch") -> str | None:
    """The model as an MLflow pyfunc on the child run (tag ``mtst.model_uri``); None without a model."""
    import mlflow

    from mtst.serving import log_pyfunc

    if model is None:
        return None
    with mlflow.start_run(run_id=run_id):
        model_uri = log_pyfunc(model_dir, model, example_texts or ["An example sentence."], backend=backend).model_uri
    tracker.set_tags(run_id, {MODEL_URI: model_uri})
    return model_uri
