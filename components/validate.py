"""``validate``: the Great Expectations checkpoint over the splits; fails the run when the data is bad."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def validate(validate_params: dict, splits: Input[Dataset], report: Output[Artifact], data_docs: Output[HTML],
             metrics: Output[Metrics], dataset: Input[Dataset] = None, augmented: Input[Dataset] = None,
             pipeline_run_id: str = ""):
    """Run mtst.steps.validate over the raw datasets and the splits (or, given ``augmented``, over the
    augmented Task B split against the splits), logging its report on the KFP run's MLflow parent run; the Data
    Docs go to the HTML artifact the KFP UI renders."""
    from mtst.kfp import publish, sections
    from mtst.steps import validate as step

    params = sections.parse("validate", validate_params)
    summary = step.run(params.validate, splits.path, report.path, data_dir=dataset.path if dataset else None,
                       augmented_dir=augmented.path if augmented else None, tracking=params.tracking,
                       pipeline_params=sections.plain(validate_params), pipeline_id=publish.pipeline_id(pipeline_run_id))
    publish.publish_html(report.path, data_docs.path)
    publish.log_metrics(metrics, summary)
