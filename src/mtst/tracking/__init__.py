"""MLflow tracking: where the store is, a fast preflight, and the run layout of a pipeline run.

Store (``store``): ``$MLFLOW_TRACKING_URI`` if set, else ``tracking.uri`` from params.yaml, else the embedded
store ``sqlite:///<repo>/mlflow.db`` with artifacts in ``<repo>/mlartifacts`` (``<repo>``: the nearest folder
upwards from the working directory that holds ``params.yaml``). ``make ui`` / ``mtst ui`` serve that store (``ui``).

Run layout in the experiment (``tracking.experiment``, default ``mtst``; ``layout`` and ``variant``)::

    pipeline-<time>                      one parent run per pipeline run (tags mtst.role=pipeline, mtst.pipeline_id)
      ├── <variant>                      one child per freeze variant: `train` logs params, per-step curves,
      │     ├── <variant>:<stage>        train/val metrics and the stage runs; `evaluate` adds test metrics,
      │     │                            plots, the pyfunc model (mtst.role=variant, mtst.variant; mtst.recipe
      │     │                            and mtst.test_data_hash: how compare finds its runs with other seeds)
      │     └── ...                      one nested run per training stage (mtst.role=stage, mtst.stage)
      └── ...                            the parent holds the validation reports + Data Docs (logged by
                                         `validate`) and the comparison (`compare`)

DVC stages and kfp tasks are separate processes, so they find the parent run by the pipeline run's identity,
an explicit parameter of every step that records (``pipeline_id``; the CLI's ``--pipeline-id``, which reads
``$MTST_PIPELINE_ID``, a kfp task passes ``kfp-<run id>``):

1. the *open* (status RUNNING) parent run tagged ``mtst.pipeline_id = <id>`` is reused, where ``<id>`` is the
   given identity or, by default, git commit + data hash + params hash + the checkout's id (minted once into
   ``artifacts/.mtst-checkout-id``), so every stage of one ``dvc repro`` over the same code, data and
   parameters lands in the same parent, and another checkout of them (a second clone or CI job logging to the
   same server at the same time) in its own;
2. else a new parent is created. Two processes racing to create one both keep the oldest.

``mtst compare`` finishes the parent run (status FINISHED); the next pipeline run opens a new one.

Each step records what it produced. Re-running a step is idempotent: a child run is identified by its parent
run + ``mtst.variant`` (tags); training replaces its variant's child run and the stage runs under it (the old
ones, complete or left half-logged by a crash, are deleted; MLflow keeps them recoverable in the trash; only
runs under this pipeline run's own parent are ever deleted, never another pipeline run's), and an
evaluation adds to the child its training left, or, when there is none to add to (trained untracked, evaluated
before, half-logged), logs the training part again from the train folder first. So after
a tracking server is lost in the middle of a pipeline, re-running once it is back leaves exactly one child
per variant under the same parent (still open: only ``compare`` finishes it).

A store that fails while a step logs (server gone, refused, timing out) raises ``TrackingError`` naming the
URI and what was being logged, so the CLI stops with exit code 2 and no traceback. HTTP calls are retried
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times (default here 3, backoff factor 1: about 7 s in all, instead of
MLflow's own minutes); both environment variables override this.

Modules: ``errors`` (``TrackingError``), ``store`` (URI, preflight, failures, the ``Tracker`` client),
``layout`` (the parent run, a variant's identity, tags and run facts), ``values`` (keys and values MLflow
accepts), ``variant`` (one variant's child run: its training and evaluation parts), ``validation`` (a validation
report on the parent), ``datasets`` (split files as dataset inputs), ``comparison`` (the comparison's record),
``ui`` (``mtst ui``); the tag names are ``mtst.run_tags``'s. The names below are the package's interface.
"""

from mtst.run_tags import RECIPE, ROLE, TEST_DATA_HASH, VARIANT
from mtst.tracking.errors import TrackingError
from mtst.tracking.layout import common_tags, data_hash, default_pipeline_id, git_commit, pipeline_run, variant_runs
from mtst.tracking.store import (Tracker, default_tracking_uri, guard, local_artifact_root, preflight,
                                 project_root, resolve_tracking_uri)
from mtst.tracking.ui import ui_command
from mtst.tracking.values import metric_key, numeric, param_items
from mtst.tracking.validation import log_validation
from mtst.tracking.variant import log_evaluation, log_training

__all__ = ["RECIPE", "ROLE", "TEST_DATA_HASH", "VARIANT", "Tracker", "TrackingError", "common_tags", "data_hash",
           "default_pipeline_id", "default_tracking_uri", "git_commit", "guard", "local_artifact_root",
           "log_evaluation", "log_training", "log_validation", "metric_key", "numeric", "param_items", "pipeline_run",
           "preflight", "project_root", "resolve_tracking_uri", "ui_command", "variant_runs"]
