"""The comparison as a record (``comparison.json``), its Markdown rendering (``comparison.md``, from the
template ``templates/comparison.md.j2``) and the rows of the chart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jinja2

from mtst.comparison.ablation import ABLATION_AXES, ablation
from mtst.comparison.decision import decision, multitask_vs_separate, select_champion, single_task_baselines
from mtst.comparison.results import Result, domain_names
from mtst.comparison.serving import serving_table
from mtst.config import CompareParams
from mtst.contracts.comparison import Comparison, SeedRow, VariantEntry

TEMPLATE = "comparison.md.j2"


def build(results: list[Result], params: CompareParams, earlier: Sequence[tuple[Result, str]] = (),
          seeds: list[SeedRow] | None = None) -> Comparison:
    """Everything but the registry decision (``mtst.tracking.comparison`` makes it once the champion is registered);
    ``earlier`` and ``seeds``: what MLflow holds from earlier runs (``mtst.comparison.earlier_runs``)."""
    by_name = {r.variant: r for r in results}
    champion = select_champion(results, params.selection_metric)
    singles = single_task_baselines(results)
    mvs = multitask_vs_separate(champion, singles, by_name, params)
    return Comparison(
        variants=[VariantEntry(variant=r.variant, description=r.description, tasks=r.tasks, metrics=r.metrics.root)
                  for r in results],
        selection_metric=params.selection_metric, champion=champion.variant,
        champion_value=champion.get(params.selection_metric),
        multitask_vs_separate=mvs, decision=decision(mvs, params.tolerance) if mvs else None,
        ablation=ablation(results, earlier), registered=None, registry=None, serving=serving_table(champion, params),
        seeds=seeds,
    )


def _pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal, "–" when missing."""
    return "–" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "–" if value is None else fmt.format(value)


def _signed(value: float | None, missing: str = "–") -> str:
    """Points with their sign (``+1.2``)."""
    return missing if value is None else f"{value:+.1f}"


def _ratio(x: float | None, y: float | None, word: str = "") -> str:
    """``x / y`` as ``1.23×`` (and ``word``), empty when either is missing or zero."""
    return f"{x / y:.2f}×" + (f" {word}" if word else "") if x and y else ""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("mtst.comparison", "templates"), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(pct=_pct, num=_num, signed=_signed, ratio=_ratio)
    return env


def render_markdown(report: Comparison, results: list[Result], params: CompareParams, chart_name: str) -> str:
    """comparison.md: the variant table, multi-task vs separate with the decision, the ablation, the serving
    table, the registry."""
    template = _environment().get_template(TEMPLATE)
    return template.render(report=report, results=results, params=params, chart_name=chart_name,
                           domains=domain_names(results), axes=list(ABLATION_AXES))


def chart_rows(results: list[Result]) -> list[dict[str, Any]]:
    """Per variant, the macro-F1 of each task and of each Task B domain (``mtst.evaluation.plots.plot_comparison``)."""
    names = domain_names(results)
    return [{"variant": r.variant, "task_a": r.get("task_a.macro_f1"), "task_b": r.get("task_b.macro_f1"),
             "domains": {d: r.get(f"task_b.domain.{d}.macro_f1") for d in names
                         if r.get(f"task_b.domain.{d}.macro_f1") is not None}} for r in results]
