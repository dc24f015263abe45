"""``compare``: the freeze variants side by side (comparison.md for the KFP UI, plus the chart)."""

from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def compare(compare_params: dict, evaluations: Input[List[Artifact]], report: Output[Artifact],
            comparison: Output[Markdown], metrics: Output[Metrics],
            followup_evaluations: Input[List[Artifact]] = None, pipeline_run_id: str = ""):
    """Run mtst.steps.compare over the collected evaluations (staged as <dir>/<variant> like the DVC path);
    with tracking on it also finishes the KFP run's MLflow parent run and registers the champion."""
    from mtst.kfp import artifacts, publish, sections
    from mtst.plan import declared_order
    from mtst.steps import compare as step

    params = sections.parse("compare", compare_params)
    eval_dirs = artifacts.stage_by_variant(list(evaluations) + list(followup_evaluations or []),
                                           artifacts.scratch_dir("eval"))
    summary = step.run(params.compare, eval_dirs, report.path, tracking=params.tracking,
                       pipeline_params=sections.plain(compare_params), order=declared_order(params),
                       pipeline_id=publish.pipeline_id(pipeline_run_id))
    artifacts.copy_file(artifacts.find_file(report.path, "comparison.md"), comparison.path)
    publish.log_metrics(metrics, summary)
