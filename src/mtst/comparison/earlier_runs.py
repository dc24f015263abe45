"""What MLflow holds from earlier pipeline runs that this comparison can use: each variant's runs with other
seeds (mean and interval over seeds), and the imbalance ablations this run did not train.

A variant's runs over seeds are the finished child runs with its recipe (``mtst.recipe``: every setting and
training row that shaped the weights except ``train.seed``) measured on this run's test rows
(``mtst.test_data_hash``) by the same backend (the param ``evaluate.backend``); the latest run per seed counts.
Another seed is one ``dvc exp run -S train.seed=14`` away. An ablation of an evaluated variant (a child run whose
param ``variant.ablation_of``, the variant's ``ablation_of`` as it trained, names it) that this run did not
evaluate comes from its latest finished child run on the same test rows with the same seed and backend as this
run's evaluation of its base; its records are downloaded from the run's artifacts, and its row says which run
it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtst.comparison.results import Result
from mtst.comparison.statistics import interval
from mtst.contracts.comparison import SeedInterval, SeedRow
from mtst.contracts.evaluation import METRICS, EvalFolder
from mtst.names import child
from mtst.run_tags import RECIPE, ROLE, TEST_DATA_HASH, VARIANT
from mtst.tracking.comparison import ABLATION_OF, EVALUATION_ARTIFACTS, EVALUATED_BACKEND, SEED

FINISHED = "attributes.status = 'FINISHED'"


def over_seeds(tracker: Any, results: list[Result]) -> list[SeedRow]:
    """Per variant of this run with a recorded recipe, its runs over seeds (this run's included)."""
    rows = []
    for result in results:
        recipe, tested = result.info.recipe if result.info else None, result.test_data_hash
        if not recipe or not tested:
            continue
        runs = _search(tracker, f"tags.`{RECIPE}` = '{recipe}' and tags.`{TEST_DATA_HASH}` = '{tested}'")
        backend = _backend(tracker, result)  # an ONNX int8 evaluation scores the same weights differently
        latest: dict[int, Any] = {}
        for run in sorted((r for r in runs if r.data.params.get(EVALUATED_BACKEND, "torch") == backend),
                          key=lambda r: r.info.start_time):
            seed = run.data.params.get(SEED)
            if seed is not None and seed.lstrip("-").isdigit():
                latest[int(seed)] = run
        if latest:
            seeds = sorted(latest)
            rows.append(SeedRow(variant=result.variant, seeds=seeds, run_ids=[latest[s].info.run_id for s in seeds],
                                task_a=_interval([latest[s] for s in seeds], "test.task_a.macro_f1"),
                                task_b=_interval([latest[s] for s in seeds], "test.task_b.macro_f1")))
    return rows


def ablations(tracker: Any, results: list[Result], workdir: Path) -> list[tuple[Result, str]]:
    """The ablations of this run's variants that it did not evaluate, from their latest finished runs on the same
    test rows, seed and backend as this run's evaluation of their base: each as a Result (its records downloaded
    into ``workdir``) and the source it came from."""
    here = {r.variant for r in results}
    out = []
    for base in results:
        tested = base.test_data_hash
        if base.info is None or not tested:
            continue
        runs = _search(tracker, f"params.`{ABLATION_OF}` = '{base.variant}' and tags.`{TEST_DATA_HASH}` = "
                                f"'{tested}' and params.`{SEED}` = '{base.info.seed}'")
        if not runs:
            continue
        backend = _backend(tracker, base)
        latest: dict[str, Any] = {}
        for run in sorted((r for r in runs if r.data.params.get(EVALUATED_BACKEND, "torch") == backend),
                          key=lambda r: r.info.start_time):
            variant = run.data.tags.get(VARIANT, "")
            if variant not in here:
                latest[variant] = run
        out += [found for variant, run in sorted(latest.items())
                if (found := _download(tracker, variant, run, workdir)) is not None]
    return out


def _download(tracker: Any, variant: str, run: Any, workdir: Path) -> tuple[Result, str] | None:
    """An earlier run's evaluation records as a Result, and where it comes from; None when it logged none."""
    from mlflow.artifacts import download_artifacts

    destination = child(workdir, variant, f"MLflow run {run.info.run_id}'s tag {VARIANT}")  # any store writer sets it
    folder = Path(download_artifacts(run_id=run.info.run_id, artifact_path=EVALUATION_ARTIFACTS,
                                     dst_path=str(destination), tracking_uri=tracker.uri))
    if not (folder / METRICS).exists():
        return None
    records = EvalFolder(folder)
    return (Result(variant, folder, records.metrics(), records.variant()),
            f"MLflow run {run.info.run_id[:8]} ({_day(run.info.start_time)})")


def _search(tracker: Any, condition: str) -> list[Any]:
    return list(tracker.client.search_runs([tracker.experiment_id], f"{condition} and tags.`{ROLE}` = 'variant' "
                                                                    f"and {FINISHED}", max_results=1000))


def _backend(tracker: Any, result: Result) -> str:
    """The backend this run's evaluation of ``result`` scored with (torch when not recorded)."""
    from mlflow.exceptions import MlflowException

    from mtst.redaction import redact_uri

    if result.mlflow is None or result.mlflow.tracking_uri != redact_uri(tracker.uri):
        return "torch"
    try:
        return str(tracker.client.get_run(result.mlflow.run_id).data.params.get(EVALUATED_BACKEND, "torch"))
    except MlflowException:  # deleted since (the run's store kept its eval folder's mlflow.json)
        return "torch"


def _interval(runs: list[Any], metric: str) -> SeedInterval | None:
    values = [run.data.metrics[metric] for run in runs if metric in run.data.metrics]
    return SeedInterval(**interval(values)) if len(values) == len(runs) and values else None


def _day(millis: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
