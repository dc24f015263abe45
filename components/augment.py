"""``augment``: augmented Task B training rows (the scarce task)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def augment(augment_params: dict, splits: Input[Dataset], augmented: Output[Dataset], metrics: Output[Metrics]):
    """Run mtst.steps.augment: <augmented>/task_b/train.jsonl (original rows plus augmented ones)."""
    from mtst.kfp import publish, sections
    from mtst.steps import augment as step

    params = sections.parse("augment", augment_params)
    summary = step.run(params.augment, splits.path, augmented.path, progress=False)
    publish.log_metrics(metrics, summary)
