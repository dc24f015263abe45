"""The Kubeflow pipeline (wiring only): ``pipelines.multitask_pipeline``. Compile, run and submit it with
``mtst kfp compile | run-local | submit`` (the logic lives in ``mtst.kfp``)."""
