"""The multi-task pipeline: data -> validate -> augment -> validate (augmented) -> ParallelFor(variant: train ->
evaluate) -> compare; the same DAG as dvc.yaml.

Wiring only: tasks, their inputs, resources, retries, caching and where MLflow settings come from.

- ``params_json``: the effective params.yaml (+ profile) as JSON; every component parses its own section.
- ``variants``: the freeze variants trained from scratch, fanned out with ``dsl.ParallelFor``.
- ``followup_variants``: variants that start from another variant's model (``init_from``). They train in a
  second ParallelFor after ``collect_init_models`` gathers the first wave's models (``dsl.Collected``);
  KFP cannot pass a ``Collected`` list into another loop, hence the gathering task.
- ``accelerator_type`` / ``accelerator_count``: the GPUs of each training task.
- ``train_nproc``: training processes per task (torchrun in the pod when > 1; match ``accelerator_count``).

MLflow: every task reads ``MLFLOW_TRACKING_URI`` from the ConfigMap and the
optional basic-auth credentials from the Secret named in ``mtst.kfp.settings``; the compiled YAML names
those objects, never their values.
"""

from typing import List

from kfp import dsl, kubernetes
from kfp.dsl import Markdown

from components import augment, collect_init_models, compare, data, evaluate, train, validate
from mtst.kfp import settings

FIRST_WAVE = [v for v, source in settings.FALLBACK_VARIANTS.items() if source is None]
FOLLOWUPS = [v for v, source in settings.FALLBACK_VARIANTS.items() if source is not None]
RUN_ID = dsl.PIPELINE_JOB_ID_PLACEHOLDER  # the KFP run: one MLflow parent run per pipeline run


def _configure(task: dsl.PipelineTask, name: str, cache: bool = True) -> dsl.PipelineTask:
    res = settings.RESOURCES[name]
    task.set_cpu_request(res["cpu"]).set_cpu_limit(res["cpu_limit"])
    task.set_memory_request(res["memory"]).set_memory_limit(res["memory_limit"])
    task.set_caching_options(cache)
    kubernetes.use_config_map_as_env(task, settings.MLFLOW_CONFIG_MAP,
                                     {key: key for key in settings.MLFLOW_CONFIG_MAP_KEYS})
    kubernetes.use_secret_as_env(task, settings.MLFLOW_SECRET, {key: key for key in settings.MLFLOW_SECRET_KEYS},
                                 optional=True)
    return task


def _train_task(task: dsl.PipelineTask, accelerator_type, accelerator_count, nproc) -> dsl.PipelineTask:
    # Training is not bit-for-bit deterministic on GPUs: never served from the cache; retried on failure.
    _configure(task, "train", cache=False)
    task.set_accelerator_type(accelerator_type).set_accelerator_limit(accelerator_count)
    # kfp 2.17 does not thread pipeline parameters used only in resource fields into a ParallelFor's
    # sub-DAG; registering them makes the compiler pass them in (``nproc`` too, though as a task input it is
    # threaded anyway: registering it keeps it in the loop should the input ever move to a resource field).
    task.register_pipeline_channels([accelerator_type, accelerator_count, nproc])
    task.set_retry(settings.TRAIN_RETRIES, backoff_duration=settings.TRAIN_RETRY_BACKOFF, backoff_factor=2.0)
    kubernetes.add_toleration(task, **settings.GPU_TOLERATION)
    return task


def build_pipeline(*, followup_wave: bool = True, parallelism: int | None = None):
    """The pipeline; ``followup_wave`` adds the init_from wave, ``parallelism`` caps each ParallelFor."""

    @dsl.pipeline(name=settings.PIPELINE_NAME, description=settings.PIPELINE_DESCRIPTION)
    def multitask_pipeline(params_json: str = "{}", variants: List[str] = FIRST_WAVE,
                           followup_variants: List[str] = FOLLOWUPS,
                           accelerator_type: str = settings.DEFAULT_ACCELERATOR_TYPE,
                           accelerator_count: int = settings.DEFAULT_ACCELERATOR_COUNT,
                           train_nproc: int = settings.DEFAULT_TRAIN_NPROC) -> Markdown:
        data_task = _configure(data(params_json=params_json), "data")
        splits = data_task.outputs["splits"]
        validate_task = _configure(validate(params_json=params_json, dataset=data_task.outputs["dataset"],
                                            splits=splits), "validate")
        validation = validate_task.outputs["report"]
        augment_task = _configure(augment(params_json=params_json, splits=splits), "augment").after(validate_task)
        augmented = augment_task.outputs["augmented"]
        # like dvc.yaml's validate_augmented: the augmented split passes the same rules before training
        validate_augmented = _configure(validate(params_json=params_json, splits=splits, augmented=augmented),
                                        "validate").set_display_name("validate-augmented")

        with dsl.ParallelFor(variants, parallelism=parallelism) as variant:
            train_task = _train_task(train(params_json=params_json, variant=variant, splits=splits,
                                           augmented=augmented, nproc=train_nproc).after(validate_augmented),
                                     accelerator_type, accelerator_count, train_nproc)
            eval_task = _configure(evaluate(params_json=params_json, model=train_task.outputs["model"],
                                            splits=splits, validation=validation, pipeline_run_id=RUN_ID),
                                   "evaluate")
        evaluations = dsl.Collected(eval_task.outputs["evaluation"])

        if not followup_wave:
            compare_task = compare(params_json=params_json, evaluations=evaluations, pipeline_run_id=RUN_ID)
        else:
            init_task = _configure(collect_init_models(params_json=params_json,
                                                       models=dsl.Collected(train_task.outputs["model"])), "compare")
            with dsl.ParallelFor(followup_variants, parallelism=parallelism) as followup:
                followup_train = _train_task(train(params_json=params_json, variant=followup, splits=splits,
                                                   augmented=augmented, init_models=init_task.outputs["init_models"],
                                                   nproc=train_nproc),
                                             accelerator_type, accelerator_count, train_nproc)
                followup_eval = _configure(evaluate(params_json=params_json, model=followup_train.outputs["model"],
                                                    splits=splits, validation=validation, pipeline_run_id=RUN_ID),
                                           "evaluate")
            compare_task = compare(params_json=params_json, evaluations=evaluations,
                                   followup_evaluations=dsl.Collected(followup_eval.outputs["evaluation"]),
                                   pipeline_run_id=RUN_ID)
        _configure(compare_task, "compare")
        return compare_task.outputs["comparison"]

    return multitask_pipeline


multitask_pipeline = build_pipeline()
