"""``compare``: the freeze variants side by side (comparison.md for the KFP UI, plus the chart)."""

from typing import List

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def compare(params_json: str, evaluations: Input[List[Artifact]], report: Output[Artifact],
            comparison: Output[Markdown], metrics: Output[Metrics],
            followup_evaluations: Input[List[Artifact]] = None, pipeline_run_id: str = ""):
    """Run mtst.steps.compare over the collected evaluations (staged as <dir>/<variant> like the DVC path);
    with tracking on it also finishes the KFP run's MLflow parent run and registers the champion."""
    from mtst.kfp import tasks
    from mtst.steps import compare as step

    params = tasks.load_params(params_json)
    tasks.use_pipeline_id(pipeline_run_id)
    eval_dirs = tasks.stage_by_variant(list(evaluations) + list(followup_evaluations or []), tasks.scratch_dir("eval"))
    summary = step.run(params.compare, eval_dirs, report.path, tracking=params.tracking,
                       pipeline_params=tasks.params_dict(params_json))
    tasks.copy_file(tasks.find_file(report.path, "comparison.md"), comparison.path)
    tasks.log_metrics(metrics, summary)
