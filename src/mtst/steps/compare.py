"""DAG node ``compare``: the table over all evaluated variants, one multi-task model vs two single-task
models with a generated decision, the imbalance ablation; then the champion in the MLflow registry.

Outputs in ``out_dir`` (default ``reports/``): ``comparison.md``, ``comparison.png``, ``comparison.json``.
With tracking on they are logged on the pipeline's parent run, the best child's metrics are copied onto the
parent (``best.*``), and this run's best variant (``compare.selection_metric``, among variants serving both
tasks) is registered as a version of ``compare.registered_model``. The alias ``compare.alias`` (``champion``)
moves to it only when it beats the current champion on the same test data, or when forced
(``compare.force_champion``; see ``mtst.registry``). The decision is in comparison.md / .json and on the
parent run (tags ``mtst.registry_*``, metrics ``registry.*``); then the parent run is finished, and so is any
other parent of the compared evaluations still running (evaluations logged after the pipeline finished).

The serving table (``mtst.comparison.serving``) picks the backend that serves the champion best within
``compare.serving_tolerance``; the registered version is that backend's pyfunc (logged on the champion's child
run as ``model-<backend>`` when the evaluation logged another), tagged ``mtst.backend``. On the parent run:
metrics ``serving.<backend>.*`` and the tag ``mtst.serving_backend``.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from mtst.comparison import earlier_runs
from mtst.comparison.report import build, chart_rows, render_markdown
from mtst.comparison.results import Result, load_results
from mtst.comparison.serving import serving_metrics
from mtst.config import CompareParams, TrackingParams
from mtst.contracts.comparison import (Comparison, NotRegistered, RegisteredBrief, RegisteredVersion,
                                       RegistryOutcome, SeedRow)
from mtst.evaluation.plots import plot_comparison
from mtst.io import write_text
from mtst.redaction import redact_uri
from mtst.run_tags import REGISTRY_DECISION, REGISTRY_REASON, SELECTION_METRIC

REPORT, CHART, DATA = "comparison.md", "comparison.png", "comparison.json"


def run(params: CompareParams, eval_dirs: list[str | Path], out_dir: str | Path = "reports", *,
        tracking: TrackingParams | None = None, pipeline_params: dict[str, Any] | None = None,
        force_champion: bool = False, order: list[str] | None = None) -> dict[str, Any]:
    """``force_champion`` (a command-line override) or ``params.force_champion`` moves the alias to this run's
    best variant even where it does not beat the champion. ``order``: the pipeline's declared variants, the
    order of the report's rows (and the tie-break of the champion); without it, by name, ``staged_*`` last."""
    from mtst import tracking as mt

    track = tracking is not None and tracking.enabled
    if track:
        mt.preflight(tracking)
    results = load_results(eval_dirs, order)
    tracker = mt.Tracker.open(tracking) if track else None
    with tempfile.TemporaryDirectory(prefix="mtst-earlier-runs-") as scratch:
        report = build(results, params, *_earlier(tracker, results, Path(scratch)))
    out_dir = Path(out_dir)
    for name in (DATA, REPORT, CHART):  # a kill from here on leaves some new files or none, never old next to new
        (out_dir / name).unlink(missing_ok=True)
    plot_comparison(chart_rows(results), out_dir / CHART)
    parent = None
    if tracker is not None:
        with mt.guard(tracker.uri, "registering the champion"):
            parent = _parent(tracker, results, pipeline_params)
            report.registry = _register(tracker, report, results, params, params.force_champion or force_champion)
    write_text(out_dir / REPORT, render_markdown(report, results, params, CHART))
    if tracker is not None and parent is not None:
        with mt.guard(tracker.uri, f"logging the comparison on the parent run {parent}"):
            _log_parent(tracker, parent, report, results, params, out_dir)
            report.registered = _registered(parent, report.registry)
            report.write(out_dir / DATA)
            tracker.client.log_artifact(parent, str(out_dir / DATA), "comparison")
            tracker.client.set_terminated(parent, "FINISHED")  # this pipeline run is complete
            _finish_later_parents(tracker, results, parent)
    else:
        report.write(out_dir / DATA)
    return {"champion": report.champion, "selection_metric": params.selection_metric,
            "champion_value": report.champion_value, "report": str(out_dir / REPORT),
            "decision": report.decision.choice if report.decision else None,
            "serving_backend": report.serving.chosen if report.serving else None,
            "registered": report.registered.model_dump(mode="json") if report.registered else None}


def _earlier(tracker: Any, results: list[Result], scratch: Path) -> tuple[list[tuple[Result, str]], list[SeedRow] | None]:
    """The ablations this run did not train and every variant's runs over seeds, from MLflow (none without
    tracking)."""
    from mtst import tracking as mt

    if tracker is None:
        return [], None
    with mt.guard(tracker.uri, "reading earlier runs (seeds, ablations)"):
        return earlier_runs.ablations(tracker, results, scratch), earlier_runs.over_seeds(tracker, results)


def _parents(tracker: Any, results: list[Result]) -> Counter[str]:
    """The parent runs the compared evaluations logged under in this store, with how many each holds. More
    than one when evaluations came later (``make ablations`` after ``make run`` opens a parent of its own)."""
    return Counter(r.mlflow.parent_run_id for r in results if r.mlflow and r.mlflow.parent_run_id
                   and r.mlflow.tracking_uri == redact_uri(tracker.uri))


def _parent(tracker: Any, results: list[Result], pipeline_params: dict[str, Any] | None) -> str:
    """The parent run most evaluations logged under, else this pipeline's parent run."""
    parents = _parents(tracker, results)
    return parents.most_common(1)[0][0] if parents else tracker.pipeline_run(pipeline_params)


def _finish_later_parents(tracker: Any, results: list[Result], parent: str) -> None:
    """Finish the other parents of the compared evaluations that are still running: the comparison that used
    their evaluations is their last step, and nothing else would close them."""
    for run_id in _parents(tracker, results):
        if run_id != parent and tracker.client.get_run(run_id).info.status == "RUNNING":
            tracker.client.set_terminated(run_id, "FINISHED")


def _register(tracker: Any, report: Comparison, results: list[Result], params: CompareParams,
              force: bool) -> RegistryOutcome | NotRegistered:
    """The registry decision (see ``mtst.registry``), or why nothing was registered."""
    from mtst import registry
    from mtst import tracking as mt

    champion = next(r for r in results if r.variant == report.champion)
    logged = champion.mlflow
    if not params.register_champion:
        return NotRegistered(decision="not registered", reason="compare.register_champion is off")
    if logged is None or not logged.model_uri or logged.tracking_uri != redact_uri(tracker.uri):
        return NotRegistered(decision="not registered",
                             reason=f"`{champion.variant}` has no model logged in {redact_uri(tracker.uri)} "
                                    "(tracking.log_model off, or evaluated against another store)")
    evaluated = tracker.client.get_run(logged.run_id).data.params.get("evaluate.backend", "torch")
    serving = report.serving
    backend = serving.chosen if serving is not None and serving.chosen else evaluated
    model_uri = logged.model_uri if backend == evaluated else _served_model(tracker, champion, backend, params.seed)
    candidate = registry.Measured(version=None, variant=champion.variant, run_id=logged.run_id,
                                  metric=params.selection_metric, value=report.champion_value,
                                  test_data_hash=registry.test_data_hash(champion), data_hash=mt.data_hash(),
                                  backend=backend)
    return registry.settle(tracker.client, params.registered_model, params.alias, model_uri, candidate, force)


def _served_model(tracker: Any, champion: Result, backend: str, seed: int) -> str:
    """The champion's model as a pyfunc served by ``backend``, logged once on its child run (artifact
    ``model-<backend>``, tag ``mtst.model_uri.<backend>``; a re-run of compare reuses it)."""
    import mlflow

    from mtst.comparison.timing import sample_texts
    from mtst.export.backend import calibration_for, load_backend
    from mtst.serving import log_pyfunc

    assert champion.mlflow is not None and champion.info is not None  # checked by _register / serving table
    run_id, tag = champion.mlflow.run_id, f"mtst.model_uri.{backend}"
    known = tracker.client.get_run(run_id).data.tags.get(tag)
    if known:
        return str(known)
    model_dir = Path(champion.info.model_dir)
    examples = sample_texts(Path(champion.info.splits_dir), 3, seed)
    with mlflow.start_run(run_id=run_id):
        calibration = calibration_for([backend], champion.info.splits_dir, champion.tasks)
        uri = log_pyfunc(model_dir, load_backend(model_dir, backend, calibration=calibration), examples,
                         name=f"model-{backend}", backend=backend).model_uri
    tracker.set_tags(run_id, {tag: uri})
    return str(uri)


def _registered(parent: str, registry: RegistryOutcome | NotRegistered | None) -> RegisteredVersion | RegisteredBrief:
    """The short form for the CLI summary: the candidate's version and whether it holds the alias now."""
    assert registry is not None  # set whenever there is a parent run
    if not isinstance(registry, RegistryOutcome):
        return RegisteredBrief(parent_run_id=parent, decision=registry.decision)
    name, version = registry.name, registry.candidate.version
    assert version is not None and registry.champion.version is not None  # settle registered both
    return RegisteredVersion(parent_run_id=parent, name=name, version=version, variant=registry.candidate.variant,
                             alias=registry.alias, decision=registry.decision, uri=f"models:/{name}/{version}",
                             champion_version=registry.champion.version, champion_uri=registry.champion_uri)


def _log_parent(tracker: Any, parent: str, report: Comparison, results: list[Result], params: CompareParams,
                out_dir: Path) -> None:
    """The report, the best child's metrics, the multi-task vs separate numbers and the registry decision."""
    from mtst import tracking as mt

    for name in (REPORT, CHART):
        if (out_dir / name).exists():
            tracker.client.log_artifact(parent, str(out_dir / name), "comparison")
    champion = next(r for r in results if r.variant == report.champion)
    metrics = [(f"best.{k}", v, 0) for k, v in champion.metrics.root.items() if mt.numeric(v)]
    mvs, decision = report.multitask_vs_separate, report.decision
    if mvs:
        for task, q in mvs.quality.items():
            if q.diff is not None:
                metrics.append((f"comparison.{task}.multitask_minus_separate", q.diff, 0))
        for key in ("throughput_ratio", "parameter_ratio", "train_time_ratio"):
            if decision and getattr(decision, key):
                metrics.append((f"comparison.{key}", getattr(decision, key), 0))
    tags = {"mtst.champion_variant": champion.variant, SELECTION_METRIC: params.selection_metric}
    if decision:
        tags["mtst.decision"] = decision.choice
        tags["mlflow.note.content"] = decision.text
    if report.serving is not None and report.serving.chosen:
        metrics += serving_metrics(report.serving)
        tags["mtst.serving_backend"] = report.serving.chosen
    registry = report.registry
    if registry is not None:
        tags.update({REGISTRY_DECISION: registry.decision, REGISTRY_REASON: registry.reason})
    if isinstance(registry, RegistryOutcome):
        tags.update({"mtst.registry_candidate_version": registry.candidate.version,
                     "mtst.registry_champion_version": registry.champion.version,
                     "mtst.registry_champion_variant": registry.champion.variant,
                     "mtst.registry_champion_uri": registry.champion_uri,
                     "mtst.registry_forced": str(registry.forced).lower()})
        metrics += [("registry.promoted", float(registry.decision == "promoted"), 0),
                    ("registry.candidate_value", registry.candidate.value, 0),
                    ("registry.champion_value", registry.champion.value, 0)]
        if registry.previous:
            tags["mtst.registry_previous_version"] = registry.previous.version
            metrics.append(("registry.previous_champion_value", registry.previous.value, 0))
    tracker.log_metrics(parent, metrics)
    tracker.set_tags(parent, {k: v for k, v in tags.items() if v is not None})


def find_eval_dirs(root: str | Path = "artifacts/eval") -> list[Path]:
    """Every ``<root>/<variant>`` with a metrics.json."""
    root = Path(root)
    return sorted(p for p in root.iterdir()  # dot-names are what a killed evaluate left (.x.tmp, .x.old)
                  if not p.name.startswith(".") and (p / "metrics.json").exists()) if root.is_dir() else []
