"""DAG node ``compare``: the table over all evaluated variants, one multi-task model vs two single-task
models with a generated decision, the imbalance ablation; then the champion in the MLflow registry.

Outputs in ``out_dir`` (default ``reports/``): ``comparison.md``, ``comparison.png``, ``comparison.json``.
With tracking on they are logged on the pipeline's parent run, the best child's metrics are copied onto the
parent (``best.*``), the champion (``compare.selection_metric``, among variants serving both tasks) is
registered as a version of ``compare.registered_model`` with the alias ``compare.alias`` (``champion``), and
the parent run is finished.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mtst import comparison as cmp
from mtst.config import CompareParams, TrackingParams
from mtst.evaluation.plots import plot_comparison
from mtst.io import write_json, write_text

REPORT, CHART, DATA = "comparison.md", "comparison.png", "comparison.json"


def run(params: CompareParams, eval_dirs: list[str | Path], out_dir: str | Path = "reports", *,
        tracking: TrackingParams | None = None, pipeline_params: dict[str, Any] | None = None) -> dict[str, Any]:
    from mtst import tracking as mt

    track = tracking is not None and tracking.enabled
    if track:
        mt.preflight(tracking)
    results = cmp.load_results(eval_dirs)
    report = cmp.build(results, params)
    out_dir = Path(out_dir)
    plot_comparison(cmp.chart_rows(results), out_dir / CHART)
    write_text(out_dir / REPORT, cmp.render_markdown(report, results, params, CHART))
    report["registered"] = None
    if track:
        tracker, parent, report["registered"] = _track(report, results, params, tracking, out_dir, pipeline_params)
        write_json(out_dir / DATA, report)
        tracker.client.log_artifact(parent, str(out_dir / DATA), "comparison")
        tracker.client.set_terminated(parent, "FINISHED")  # this pipeline run is complete
    else:
        write_json(out_dir / DATA, report)
    summary = {"champion": report["champion"], "selection_metric": params.selection_metric,
               "champion_value": report["champion_value"], "report": str(out_dir / REPORT),
               "decision": report["decision"]["choice"] if report["decision"] else None,
               "registered": report["registered"]}
    return summary


def _track(report: dict[str, Any], results: list[cmp.Result], params: CompareParams, tracking: TrackingParams,
           out_dir: Path, pipeline_params: dict[str, Any] | None) -> tuple[Any, str, dict[str, Any]]:
    from mtst import tracking as mt

    tracker = mt.Tracker.open(tracking)
    parents = Counter(r.mlflow.get("parent_run_id") for r in results if r.mlflow.get("parent_run_id")
                      and r.mlflow.get("tracking_uri") == tracker.uri)
    parent = parents.most_common(1)[0][0] if parents else tracker.pipeline_run(pipeline_params)
    for name in (REPORT, CHART):
        if (out_dir / name).exists():
            tracker.client.log_artifact(parent, str(out_dir / name), "comparison")

    champion = next(r for r in results if r.variant == report["champion"])
    metrics = [(f"best.{k}", v, 0) for k, v in champion.metrics.items() if mt.numeric(v)]
    mvs, decision = report["multitask_vs_separate"], report["decision"]
    if mvs:
        for task, q in mvs["quality"].items():
            if q["diff"] is not None:
                metrics.append((f"comparison.{task}.multitask_minus_separate", q["diff"], 0))
        for key in ("throughput_ratio", "parameter_ratio", "train_time_ratio"):
            if decision and decision.get(key):
                metrics.append((f"comparison.{key}", decision[key], 0))
    tracker.log_metrics(parent, metrics)
    tags = {"mtst.champion_variant": champion.variant, "mtst.selection_metric": params.selection_metric}
    if decision:
        tags["mtst.decision"] = decision["choice"]
        tags["mlflow.note.content"] = decision["text"]
    tracker.set_tags(parent, tags)

    registered = None
    model_uri = champion.mlflow.get("model_uri")
    if params.register_champion and model_uri and champion.mlflow.get("tracking_uri") == tracker.uri:
        registered = register_champion(tracker, model_uri, champion, params)
    return tracker, parent, {"parent_run_id": parent, **(registered or {})}


def register_champion(tracker: Any, model_uri: str, champion: cmp.Result, params: CompareParams) -> dict[str, Any]:
    """A new version of the registered model from the champion's logged pyfunc; the alias points at it."""
    import mlflow

    version = mlflow.register_model(model_uri, params.registered_model, tags={
        "mtst.variant": champion.variant, "mtst.selection_metric": params.selection_metric,
        "mtst.selection_value": str(champion.get(params.selection_metric)),
        "mtst.run_id": str(champion.mlflow.get("run_id")),
    })
    tracker.client.set_registered_model_alias(params.registered_model, params.alias, version.version)
    return {"name": params.registered_model, "version": str(version.version), "alias": params.alias,
            "uri": f"models:/{params.registered_model}@{params.alias}", "variant": champion.variant}


def find_eval_dirs(root: str | Path = "artifacts/eval") -> list[Path]:
    """Every ``<root>/<variant>`` with a metrics.json."""
    root = Path(root)
    return sorted(p for p in root.iterdir() if (p / "metrics.json").exists()) if root.is_dir() else []
