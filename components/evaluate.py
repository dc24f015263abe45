"""``evaluate``: test-set metrics of one trained variant; confusion matrices for the KFP UI."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def evaluate(evaluate_params: str, model: Input[Model], splits: Input[Dataset], validation: Input[Artifact],
             evaluation: Output[Artifact], metrics: Output[Metrics], task_a_confusion: Output[ClassificationMetrics],
             task_b_confusion: Output[ClassificationMetrics], pipeline_run_id: str = ""):
    """Run mtst.steps.evaluate (and its MLflow logging): <evaluation>/metrics.json, report.json, plots;
    scalars and confusion matrices logged on KFP artifacts. ``pipeline_run_id`` (the KFP run) groups every
    variant's MLflow run under one parent run."""
    import json

    from mtst.kfp import artifacts, publish, sections
    from mtst.steps import evaluate as step

    params = sections.parse("evaluate", evaluate_params)
    publish.use_pipeline_id(pipeline_run_id)
    step.run(params.evaluate, model.path, splits.path, evaluation.path, tracking=params.tracking,
             validation_dir=validation.path, pipeline_params=json.loads(evaluate_params))
    evaluation.metadata["variant"] = model.metadata.get("variant")
    publish.log_metrics(metrics, artifacts.read_json(evaluation.path, "metrics.json"))
    publish.log_confusion_matrices(evaluation.path, {"task_a": task_a_confusion, "task_b": task_b_confusion})
