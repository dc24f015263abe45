"""``validate``: the Great Expectations checkpoint over the splits; fails the run when the data is bad."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def validate(params_json: str, dataset: Input[Dataset], splits: Input[Dataset], report: Output[Artifact],
             data_docs: Output[HTML], metrics: Output[Metrics]):
    """Run mtst.steps.validate over the datasets and the splits; the Data Docs go to the HTML artifact the
    KFP UI renders."""
    from mtst.kfp import tasks
    from mtst.steps import validate as step

    params = tasks.load_params(params_json)
    summary = step.run(params.validate, splits.path, report.path, data_dir=dataset.path)
    tasks.publish_html(report.path, data_docs.path)
    tasks.log_metrics(metrics, summary)
