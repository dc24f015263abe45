"""``evaluate``: test-set metrics of one trained variant; confusion matrices for the KFP UI."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def evaluate(evaluate_params: dict, model: Input[Model], splits: Input[Dataset], evaluation: Output[Artifact],
             metrics: Output[Metrics], task_a_confusion: Output[ClassificationMetrics],
             task_b_confusion: Output[ClassificationMetrics], pipeline_run_id: str = ""):
    """Run mtst.steps.evaluate (and its MLflow record: the variant's child run, with its training part where the
    train task logged none): <evaluation>/metrics.json, report.json, plots; scalars and confusion matrices logged
    on KFP artifacts. ``pipeline_run_id`` (the KFP run) groups every variant's MLflow run under one parent run."""
    from mtst.contracts.evaluation import METRICS
    from mtst.kfp import artifacts, publish, sections
    from mtst.steps import evaluate as step

    params = sections.parse("evaluate", evaluate_params)
    step.run(params.evaluate, model.path, splits.path, evaluation.path, tracking=params.tracking,
             pipeline_params=sections.plain(evaluate_params),
             pipeline_id=publish.pipeline_id(pipeline_run_id))
    evaluation.metadata["variant"] = model.metadata.get("variant")
    publish.log_metrics(metrics, artifacts.read_json(evaluation.path, METRICS))
    publish.log_confusion_matrices(evaluation.path, {"task_a": task_a_confusion, "task_b": task_b_confusion})
