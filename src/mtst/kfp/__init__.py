"""Kubeflow Pipelines: the same DAG as ``dvc.yaml``, compiled for a cluster, run locally, or submitted.

- ``mtst.kfp.pipeline``: finds ``components/`` and ``pipelines/`` (wiring only, at the repository root),
  builds the ``@dsl.pipeline`` for the params, compiles it (``compile_pipeline``).
- ``mtst.kfp.local``: ``run_local`` with ``kfp.local.SubprocessRunner`` (offline, this interpreter).
- ``mtst.kfp.submit``: ``submit`` with ``kfp.Client`` (a run from the package, or an uploaded version).
- ``mtst.kfp.tasks``: what the components do around their step (params, metrics, HTML, confusion matrices).
- ``mtst.kfp.arguments``: pipeline arguments from params.yaml; ``mtst.kfp.settings``: image, names, resources.

Importing this package imports nothing from kfp (components import ``mtst.kfp.tasks`` inside the image).
"""
