"""``data``: fetch + prepare. Both datasets with their fixed splits, then the splits with the profile's limits."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def data(params_json: str, dataset: Output[Dataset], splits: Output[Dataset], metrics: Output[Metrics]):
    """Materialise both task datasets (mtst.steps.fetch) and write the limited splits (mtst.steps.prepare)."""
    from mtst.kfp import tasks
    from mtst.steps import fetch, prepare

    params = tasks.load_params(params_json)
    fetched = fetch.run(params.data, dataset.path)
    prepared = prepare.run(params.prepare, dataset.path, splits.path)
    tasks.log_metrics(metrics, {"fetch": fetched, "prepare": prepared})
