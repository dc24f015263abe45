"""Kubeflow Pipelines: the same DAG as ``dvc.yaml``, compiled for a cluster, run locally, or submitted.

- ``mtst.kfp.arguments``: the pipeline's arguments from params.yaml (variants from ``mtst.plan``);
  ``mtst.kfp.sections``: the params sections each component receives and parses.
- ``mtst.kfp.pipeline``: compiles the pipeline that ``pipelines.multitask_pipeline.build_pipeline`` makes
  (the builder is passed in by ``mtst kfp``: this package never imports the top-level wiring), and sets the
  components' image in its spec.
- ``mtst.kfp.local``: ``run_local`` with ``kfp.local`` (offline, this interpreter or the image);
  ``mtst.kfp.containers``: its DockerRunner. ``mtst.kfp.submit``: ``submit`` with ``kfp.Client``.
- What the components do around their step: ``mtst.kfp.publish`` (metrics, HTML, confusion matrices, MLflow
  grouping), ``mtst.kfp.artifacts`` (artifact folders, follow-ups' models), ``mtst.kfp.checkpoints``
  (checkpoints a retried task resumes from), ``mtst.kfp.launch`` (training in-process or under torchrun).
- ``mtst.kfp.settings``: image, names, resources.

Importing this package imports nothing from kfp (the component helpers run inside the image).
"""
