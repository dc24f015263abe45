"""DAG node ``compare``: the table over all evaluated variants, one multi-task model vs two single-task
models with a generated decision, the imbalance ablation, the serving table; then, with tracking on, the
comparison recorded in MLflow and the champion in the registry (``mtst.tracking.comparison``).

Outputs in ``out_dir`` (``mtst.dag.LAYOUT.reports``): ``mtst.contracts.comparison.REPORT_FILES``, the report, its chart and its
record (``mtst.contracts.comparison.Comparison``). With tracking on they are logged on the pipeline's parent
run, and this run's best variant (``compare.selection_metric``, among variants serving both tasks), served by
the serving table's backend, is registered as a version of ``compare.registered_model``; the alias
``compare.alias`` moves to it only when it beats the current champion on the same test data, or when forced
(``compare.force_champion``; see ``mtst.registry``). The decision is in the report and on the parent run; then
the parent run is finished, and so is any other parent of the compared evaluations still running
(evaluations logged after the pipeline finished).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mtst.comparison import earlier_runs
from mtst.comparison.report import build, chart_rows, render_markdown
from mtst.comparison.results import Result, load_results
from mtst.config import CompareParams, TrackingParams
from mtst.contracts.evaluation import METRICS
from mtst.contracts.comparison import CHART, COMPARISON, REPORT, REPORT_FILES, SeedRow
from mtst.dag import LAYOUT
from mtst.evaluation.plots import plot_comparison
from mtst.io import write_text
from mtst.locking import folder_lock



def run(params: CompareParams, eval_dirs: list[str | Path], out_dir: str | Path = LAYOUT.reports, *,
        tracking: TrackingParams | None = None, pipeline_params: dict[str, Any] | None = None,
        pipeline_id: str | None = None, force_champion: bool = False,
        order: list[str] | None = None) -> dict[str, Any]:
    """``force_champion`` (a command-line override) or ``params.force_champion`` moves the alias to this run's
    best variant even where it does not beat the champion. ``order``: the pipeline's declared variants, the
    order of the report's rows (and the tie-break of the champion); without it, by name, the ablations last.
    ``pipeline_id``: the pipeline run whose parent run records the comparison when no compared evaluation was
    logged under one (None: ``mtst.tracking.default_pipeline_id``)."""
    from mtst import tracking as mt
    from mtst.tracking import comparison as recording

    out_dir = Path(out_dir)
    with folder_lock(out_dir, "reports folder"):  # two comparisons never mix their files
        track = tracking is not None and tracking.enabled
        if track:
            mt.preflight(tracking)
        results = load_results(eval_dirs, order)
        tracker = mt.Tracker.open(tracking) if track else None
        with tempfile.TemporaryDirectory(prefix="mtst-earlier-runs-") as scratch:
            report = build(results, params, *_earlier(tracker, results, Path(scratch)))
        for name in (COMPARISON, REPORT, CHART):  # a kill from here on leaves some new files or none, never old next to new
            (out_dir / name).unlink(missing_ok=True)
        plot_comparison(chart_rows(results), out_dir / CHART)
        logged = [r.mlflow for r in results]
        parent = None
        if tracker is not None:
            champion = next(r for r in results if r.variant == report.champion)
            with mt.guard(tracker.uri, "registering the champion"):
                parent = recording.parent_run(tracker, logged, pipeline_params, pipeline_id)
                report.registry = recording.register_champion(tracker, report, champion.mlflow, champion.info,
                                                              champion.test_data_hash, params,
                                                              params.force_champion or force_champion)
        write_text(out_dir / REPORT, render_markdown(report, results, params, CHART))
        if tracker is not None and parent is not None:
            assert report.registry is not None  # set above whenever there is a parent run
            with mt.guard(tracker.uri, f"logging the comparison on the parent run {parent}"):
                recording.log_files(tracker, parent, [out_dir / REPORT, out_dir / CHART])
                recording.log_comparison(tracker, parent, report)
                report.registered = recording.registered(parent, report.registry)
                report.write(out_dir / COMPARISON)
                recording.log_files(tracker, parent, [out_dir / COMPARISON])
                recording.finish(tracker, parent, logged)
        else:
            report.write(out_dir / COMPARISON)
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


def find_eval_dirs(root: str | Path = LAYOUT.eval_root) -> list[Path]:
    """Every ``<root>/<variant>`` with a metrics file."""
    root = Path(root)
    return sorted(p for p in root.iterdir()  # dot-names are what a killed evaluate left (.x.tmp, .x.old)
                  if not p.name.startswith(".") and (p / METRICS).exists()) if root.is_dir() else []
