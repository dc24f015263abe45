"""``augment``: augmented Task B training rows (the scarce task)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def augment(params_json: str, splits: Input[Dataset], augmented: Output[Dataset], metrics: Output[Metrics]):
    """Run mtst.steps.augment: <augmented>/task_b/train.jsonl (original rows plus augmented ones)."""
    from mtst.kfp import tasks
    from mtst.steps import augment as step

    params = tasks.load_params(params_json)
    summary = step.run(params.augment, splits.path, augmented.path, progress=False)
    tasks.log_metrics(metrics, summary)
