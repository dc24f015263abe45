"""``evaluate``: test-set metrics of one trained variant; confusion matrices for the KFP UI."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def evaluate(params_json: str, model: Input[Model], splits: Input[Dataset], validation: Input[Artifact],
             evaluation: Output[Artifact], metrics: Output[Metrics], task_a_confusion: Output[ClassificationMetrics],
             task_b_confusion: Output[ClassificationMetrics], pipeline_run_id: str = ""):
    """Run mtst.steps.evaluate (and its MLflow logging): <evaluation>/metrics.json, report.json, plots;
    scalars and confusion matrices logged on KFP artifacts. ``pipeline_run_id`` (the KFP run) groups every
    variant's MLflow run under one parent run."""
    from mtst.kfp import tasks
    from mtst.steps import evaluate as step

    params = tasks.load_params(params_json)
    tasks.use_pipeline_id(pipeline_run_id)
    step.run(params.evaluate, model.path, splits.path, evaluation.path, tracking=params.tracking,
             validation_dir=validation.path, pipeline_params=tasks.params_dict(params_json))
    evaluation.metadata["variant"] = model.metadata.get("variant")
    tasks.log_metrics(metrics, tasks.read_json(evaluation.path, "metrics.json"))
    tasks.log_confusion_matrices(evaluation.path, {"task_a": task_a_confusion, "task_b": task_b_confusion})
