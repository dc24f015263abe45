"""What the MLflow UI shows first for the project's experiment: the training runs, with the variants' key
metrics side by side.

MLflow 3 has two views of an experiment: GenAI (an overview of traces and evaluations; the runs are a
"Training runs" tab there) and machine learning ("Model training": the runs table, models, the registry). Which
one it shows came from the experiment's kind (tag ``mlflow.experimentKind``: ``custom_model_development`` is
machine learning); the UI of MLflow 3.17 takes it from a per-browser "workflow type" instead, which starts as
GenAI whatever the kind and which the URL overrides with ``workflowType=machine_learning``. The runs table then shows only the Source, Models and Dataset columns until
someone picks more; a shared view (experiment tag ``mlflow.sharedViewState.<key>``, opened by
``viewStateShareKey=<key>`` on the runs page: what the UI's own Share button writes) adds the key test metrics.
So the URL ``mtst ui`` prints carries both and opens on the variants compared. The tags are set when the
experiment is created and added to an experiment created before they existed
(``mtst.tracking.store.ensure_experiment``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlencode

KIND_TAG, TRAINING_RUNS = "mlflow.experimentKind", "custom_model_development"
VIEW_KEY = "mtst-variants"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
KEY_METRICS = ("test.mean_macro_f1", "test.task_a.macro_f1", "test.task_b.macro_f1", "test.task_b.ece",
               "test.inference.sentences_per_s", "train.wall_s")


def view_state() -> str:
    """The shared view as the UI reads it back: the key metrics in this order next to the run names, then the
    Dataset column (the other settings keep the UI's defaults)."""
    columns = [*(f"metrics.`{key}`" for key in KEY_METRICS), "attributes.`Dataset`"]
    return json.dumps({"selectedColumns": columns, "columnOrder": columns})


def missing_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags to set on an experiment that has ``tags``: the kind where it has none (a kind someone chose
    stays), and this project's view where it is absent or out of date."""
    missing = {} if KIND_TAG in tags else {KIND_TAG: TRAINING_RUNS}
    if tags.get(VIEW_TAG) != view_state():
        missing[VIEW_TAG] = view_state()
    return missing


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's training-runs page in the machine-learning view with the shared view, e.g.
    ``http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=mtst-variants``."""
    query = urlencode({"workflowType": "machine_learning", "viewStateShareKey": VIEW_KEY})
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"
