"""What ``mtst compare`` records in MLflow: the comparison on the pipeline's parent run (which it then
finishes), and the champion in the model registry (``mtst.registry`` decides whether the alias moves).

Why apart from the step: ``mtst.steps.compare`` computes the comparison and writes its files; everything that
writes to a tracking store lives here, beside the rest of the run layout, and takes the comparison's records
(``mtst.contracts``), not the comparison's own types, so the dependency goes one way.

On the parent run: the report's files (artifact folder ``comparison``), the champion's test metrics as
``best.*``, the multi-task vs separate numbers (``comparison.*``), the serving table (``serving.*``, see
``mtst.comparison.serving``), the registry decision (``registry.*``) and the tags of ``mtst.run_tags``'s
"parent run" and "registry gate" groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mtst.config import CompareParams
from mtst.contracts.comparison import (Comparison, NotRegistered, RegisteredBrief, RegisteredVersion,
                                       RegistryOutcome, Serving)
from mtst.contracts.evaluation import MlflowInfo, VariantInfo
from mtst.redaction import redact_uri
from mtst.registry import PROMOTED, Measured, settle
from mtst.run_tags import (CHAMPION_VARIANT, DECISION, REGISTRY_CANDIDATE_VERSION, REGISTRY_CHAMPION_URI,
                           REGISTRY_CHAMPION_VARIANT, REGISTRY_CHAMPION_VERSION, REGISTRY_DECISION, REGISTRY_FORCED,
                           REGISTRY_PREVIOUS_VERSION, REGISTRY_REASON, SELECTION_METRIC, SERVING_BACKEND,
                           model_uri_for)
from mtst.tracking.layout import data_hash, pipeline_run
from mtst.tracking.store import Tracker
from mtst.tracking.values import numeric

# The params of a variant's child run that compare reads: ``mtst.tracking.variant`` logs the trainer's params
# (``variant.*``: params.yaml's ``train.variants.<v>`` as it trained), the seed and the evaluation's settings.
SEED = "seed"
ABLATION_OF = "variant.ablation_of"
EVALUATED_BACKEND = "evaluate.backend"  # what ran the model when it was scored
EVALUATION_ARTIFACTS = "evaluation"     # the artifact folder of a child run's eval-folder records
COMPARISON_ARTIFACTS = "comparison"     # the artifact folder of the parent run's comparison files


# ---- the parent run -----------------------------------------------------------------------------------
def _parents(tracker: Tracker, logged: Sequence[MlflowInfo | None]) -> Counter[str]:
    """The parent runs the compared evaluations logged under in this store, with how many each holds. More
    than one when evaluations came later (``make ablations`` after ``make run`` opens a parent of its own)."""
    return Counter(m.parent_run_id for m in logged if m and m.parent_run_id and m.tracking_uri == redact_uri(tracker.uri))


def parent_run(tracker: Tracker, logged: Sequence[MlflowInfo | None], pipeline_params: Mapping[str, Any] | None,
               pipeline_id: str | None) -> str:
    """The parent run most evaluations logged under, else the parent run of the pipeline run ``pipeline_id``."""
    parents = _parents(tracker, logged)
    return parents.most_common(1)[0][0] if parents else pipeline_run(tracker, pipeline_params, pipeline_id=pipeline_id)


def finish(tracker: Tracker, parent: str, logged: Sequence[MlflowInfo | None]) -> None:
    """Finish the parent run (this pipeline run is complete) and the other parents of the compared evaluations
    still running: the comparison that used their evaluations is their last step, and nothing else would close
    them."""
    tracker.client.set_terminated(parent, "FINISHED")
    for run_id in _parents(tracker, logged):
        if run_id != parent and tracker.client.get_run(run_id).info.status == "RUNNING":
            tracker.client.set_terminated(run_id, "FINISHED")


def log_files(tracker: Tracker, parent: str, files: Sequence[Path]) -> None:
    """The comparison's ``files`` that exist, as the parent run's artifacts."""
    for path in files:
        if path.exists():
            tracker.client.log_artifact(parent, str(path), COMPARISON_ARTIFACTS)


def log_comparison(tracker: Tracker, parent: str, report: Comparison) -> None:
    """The champion's metrics, the multi-task vs separate numbers, the serving table and the registry decision,
    on the parent run."""
    champion = next(v for v in report.variants if v.variant == report.champion)
    metrics = [(f"best.{k}", v, 0) for k, v in champion.metrics.items() if numeric(v)]
    mvs, decision = report.multitask_vs_separate, report.decision
    if mvs:
        for task, q in mvs.quality.items():
            if q.diff is not None:
                metrics.append((f"comparison.{task}.multitask_minus_separate", q.diff, 0))
        for key in ("throughput_ratio", "parameter_ratio", "train_time_ratio"):
            if decision and getattr(decision, key):
                metrics.append((f"comparison.{key}", getattr(decision, key), 0))
    tags = {CHAMPION_VARIANT: champion.variant, SELECTION_METRIC: report.selection_metric}
    if decision:
        tags[DECISION] = decision.choice
        tags["mlflow.note.content"] = decision.text
    if report.serving is not None and report.serving.chosen:
        metrics += serving_metrics(report.serving)
        tags[SERVING_BACKEND] = report.serving.chosen
    outcome = report.registry
    if outcome is not None:
        tags.update({REGISTRY_DECISION: outcome.decision, REGISTRY_REASON: outcome.reason})
    if isinstance(outcome, RegistryOutcome):
        tags.update({REGISTRY_CANDIDATE_VERSION: outcome.candidate.version,
                     REGISTRY_CHAMPION_VERSION: outcome.champion.version,
                     REGISTRY_CHAMPION_VARIANT: outcome.champion.variant,
                     REGISTRY_CHAMPION_URI: outcome.champion_uri,
                     REGISTRY_FORCED: str(outcome.forced).lower()})
        metrics += [("registry.promoted", float(outcome.decision == PROMOTED), 0),
                    ("registry.candidate_value", outcome.candidate.value, 0),
                    ("registry.champion_value", outcome.champion.value, 0)]
        if outcome.previous:
            tags[REGISTRY_PREVIOUS_VERSION] = outcome.previous.version
            metrics.append(("registry.previous_champion_value", outcome.previous.value, 0))
    tracker.log_metrics(parent, metrics)
    tracker.set_tags(parent, {k: v for k, v in tags.items() if v is not None})


def serving_metrics(serving: Serving) -> list[tuple[str, float, int]]:
    """The serving table as metrics: ``serving.<backend>.<task>.sentences_per_s`` and ``.macro_f1``,
    ``serving.<backend>.sentences_per_s`` (the slower task's), ``.ratio_to_torch``, ``.size_mb``."""
    metrics = []
    for row in serving.rows:
        key = f"serving.{row.backend}"
        metrics += [(f"{key}.{task}.sentences_per_s", value, 0) for task, value in row.task_sentences_per_s.items()]
        metrics += [(f"{key}.{task}.macro_f1", value, 0) for task, value in row.macro_f1.items()]
        metrics += [(f"{key}.sentences_per_s", row.sentences_per_s, 0), (f"{key}.size_mb", row.size_mb, 0),
                    (f"{key}.ratio_to_torch", row.ratio_to_torch, 0)]
    return metrics


# ---- the registry -------------------------------------------------------------------------------------
def register_champion(tracker: Tracker, report: Comparison, logged: MlflowInfo | None, info: VariantInfo | None,
                      test_data_hash: str | None, params: CompareParams, force: bool) -> RegistryOutcome | NotRegistered:
    """Register the champion (``logged``, ``info``: its evaluation's records; ``test_data_hash``: of the rows it
    was scored on) served by the serving table's choice, and let ``mtst.registry`` move the alias or not; or
    say why nothing was registered."""
    if not params.register_champion:
        return NotRegistered(decision="not registered", reason="compare.register_champion is off")
    if logged is None or not logged.model_uri or logged.tracking_uri != redact_uri(tracker.uri):
        return NotRegistered(decision="not registered",
                             reason=f"`{report.champion}` has no model logged in {redact_uri(tracker.uri)} "
                                    "(tracking.log_model off, or evaluated against another store)")
    evaluated = tracker.client.get_run(logged.run_id).data.params.get(EVALUATED_BACKEND, "torch")
    serving = report.serving
    backend = serving.chosen if serving is not None and serving.chosen else evaluated
    if backend == evaluated:
        model_uri = logged.model_uri
    else:
        assert info is not None  # the serving table measured the champion from its variant.json
        model_uri = served_model(tracker, logged.run_id, info, backend, params.seed)
    candidate = Measured(version=None, variant=report.champion, run_id=logged.run_id,
                         metric=params.selection_metric, value=report.champion_value,
                         test_data_hash=test_data_hash, data_hash=data_hash(), backend=backend)
    return settle(tracker.client, params.registered_model, params.alias, model_uri, candidate, force)


def served_model(tracker: Tracker, run_id: str, info: VariantInfo, backend: str, seed: int) -> str:
    """The champion's model as a pyfunc served by ``backend``, logged once on its child run ``run_id`` (artifact
    ``model-<backend>``, tag ``mtst.model_uri.<backend>``; a re-run of compare reuses it)."""
    import mlflow

    from mtst.evaluation.sampling import throughput_sample
    from mtst.export.backend import calibration_for, load_backend
    from mtst.serving import log_pyfunc

    tag = model_uri_for(backend)
    known = tracker.client.get_run(run_id).data.tags.get(tag)
    if known:
        return _own_model(tracker, run_id, str(known), f"model-{backend}", tag)
    model_dir = Path(info.model_dir)
    examples = throughput_sample(Path(info.splits_dir), "test", 3, seed)
    with mlflow.start_run(run_id=run_id):
        calibration = calibration_for([backend], info.splits_dir, info.tasks)
        uri = log_pyfunc(model_dir, load_backend(model_dir, backend, calibration=calibration), examples,
                         name=f"model-{backend}", backend=backend).model_uri
    tracker.set_tags(run_id, {tag: uri})
    return str(uri)


def _own_model(tracker: Tracker, run_id: str, uri: str, name: str, tag: str) -> str:
    """``uri`` when it is the model ``name`` that run ``run_id`` logged itself; else ``ModelDigestError``. Why: the
    tag is the run's, writable by whoever can write the run, and whatever it names would be registered (and its
    digest recorded) as this run's champion."""
    from mlflow.exceptions import MlflowException

    from mtst.model_digest import ModelDigestError

    model_id = uri[len("models:/"):] if uri.startswith("models:/m-") else None
    try:
        model = tracker.client.get_logged_model(model_id) if model_id else None
    except MlflowException:
        model = None
    if model is None or (model.source_run_id, model.name) != (run_id, name):
        raise ModelDigestError(f"run {run_id}'s tag {tag} names {uri}, which is not the model `{name}` this run "
                               "logged: refusing to register it. Delete the tag to log the model again")
    return uri


def registered(parent: str, outcome: RegistryOutcome | NotRegistered) -> RegisteredVersion | RegisteredBrief:
    """The short form for the CLI summary: the candidate's version and whether it holds the alias now."""
    if not isinstance(outcome, RegistryOutcome):
        return RegisteredBrief(parent_run_id=parent, decision=outcome.decision)
    name, version = outcome.name, outcome.candidate.version
    assert version is not None and outcome.champion.version is not None  # settle registered both
    return RegisteredVersion(parent_run_id=parent, name=name, version=version, variant=outcome.candidate.variant,
                             alias=outcome.alias, decision=outcome.decision, uri=f"models:/{name}/{version}",
                             champion_version=outcome.champion.version, champion_uri=outcome.champion_uri)
