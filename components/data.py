"""``data``: fetch + prepare. Both datasets with their fixed splits, then the splits with the profile's limits."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def data(data_params: dict, dataset: Output[Dataset], splits: Output[Dataset], metrics: Output[Metrics]):
    """Materialise both task datasets (mtst.steps.fetch) and write the limited splits (mtst.steps.prepare)."""
    from mtst.kfp import publish, sections
    from mtst.steps import fetch, prepare

    params = sections.parse("data", data_params)
    fetched = fetch.run(params.data, dataset.path)
    prepared = prepare.run(params.prepare, dataset.path, splits.path)
    publish.log_metrics(metrics, {"fetch": fetched, "prepare": prepared})
