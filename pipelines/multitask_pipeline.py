"""The multi-task pipeline: the DAG of ``mtst.dag`` (the one dvc.yaml runs) as Kubeflow tasks, a per-variant
stage fanned out over its wave's variants (``mtst.kfp.settings.PIPELINE_DESCRIPTION`` spells it out).

Wiring only: tasks, their inputs, resources, retries, caching and where MLflow settings come from.
``build_pipeline(arguments)`` builds it for ``mtst.kfp.arguments.pipeline_arguments`` (params.yaml at compile
time), which are also its parameters' defaults:

- ``<component>_params``: each component's params sections as a ``dict`` (``mtst.kfp.sections``: the sections
  its DAG stages read), so a task's cache key changes only with its own params.
- ``variants``: params.yaml's ``pipeline.variants`` (``mtst.plan``), fanned out with ``dsl.ParallelFor``.
- ``followup_variants``: ``pipeline.followups`` as ``[{"variant", "init_from"}]``. They train in a second
  ParallelFor after ``collect_init_models`` gathers the first wave's models (``dsl.Collected``); KFP cannot
  pass a ``Collected`` list into another loop, hence the gathering task.
- ``accelerator_type`` / ``accelerator_count``: the GPUs of each training task.
- ``train_nproc``: training processes per task (torchrun in the pod when > 1; match ``accelerator_count``).
- ``checkpoint_pvc`` (only when compiled with a claim): the PersistentVolumeClaim that training tasks mount
  for their checkpoints, so a retry (a new pod) resumes; without it, kfp.local keeps them under the local
  pipeline root and a cluster pod keeps them in its own filesystem (a retry starts from step 0).

MLflow: every task reads ``MLFLOW_TRACKING_URI`` from the ConfigMap and the
optional basic-auth credentials from the Secret named in ``mtst.kfp.settings``; the compiled YAML names
those objects, never their values.
"""

from typing import Any, List

from kfp import dsl, kubernetes
from kfp.dsl import Markdown

from components import augment, collect_init_models, compare, data, evaluate, train, validate
from mtst import dag
from mtst.kfp import settings

RUN_ID = dsl.PIPELINE_JOB_ID_PLACEHOLDER  # the KFP run: one MLflow parent run per pipeline run
# Checkpoints without a claim: kfp.local resolves this to a folder under its pipeline root; a cluster's pipeline
# root is object storage (the task then keeps them in the pod), which the train component recognises.
LOCAL_CHECKPOINT_ROOT = dsl.PIPELINE_ROOT_PLACEHOLDER + "/.checkpoints"


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


def train_task(train_params, variant, splits, augmented, *, accelerator_type, accelerator_count, nproc,
               init_from=None, init_models=None, checkpoint_pvc=None,
               retry_backoff: str = settings.TRAIN_RETRY_BACKOFF) -> dsl.PipelineTask:
    """One training task: GPUs, retries, and checkpoints where a retry of the task finds them (keyed by the
    run id and the variant; on the mounted ``checkpoint_pvc`` claim when given)."""
    inputs = {"init_from": init_from, "init_models": init_models} if init_models is not None else {}
    root = settings.CHECKPOINT_MOUNT_PATH if checkpoint_pvc is not None else LOCAL_CHECKPOINT_ROOT
    task = train(train_params=train_params, variant=variant, splits=splits, augmented=augmented, nproc=nproc,
                 checkpoint_root=root, pipeline_run_id=RUN_ID, **inputs)
    # Training is not bit-for-bit deterministic on GPUs: never served from the cache; retried on failure.
    _configure(task, "train", cache=False)
    task.set_accelerator_type(accelerator_type).set_accelerator_limit(accelerator_count)
    # kfp 2.17 does not thread pipeline parameters used only in resource fields into a ParallelFor's
    # sub-DAG; registering them makes the compiler pass them in (``nproc`` too, though as a task input it is
    # threaded anyway: registering it keeps it in the loop should the input ever move to a resource field).
    task.register_pipeline_channels([accelerator_type, accelerator_count, nproc])
    task.set_retry(settings.TRAIN_RETRIES, backoff_duration=retry_backoff, backoff_factor=2.0)
    kubernetes.add_toleration(task, **settings.GPU_TOLERATION)
    if checkpoint_pvc is not None:
        kubernetes.mount_pvc(task, pvc_name=checkpoint_pvc, mount_path=settings.CHECKPOINT_MOUNT_PATH)
    return task


def _wire(data_params, validate_params, augment_params, train_params, evaluate_params, compare_params, variants,
          followup_variants, accelerator_type, accelerator_count, train_nproc, checkpoint_pvc, *, followup_wave: bool,
          parallelism: int | None, retry_backoff: str):
    """The tasks, one per DAG stage (a per-variant stage: one per variant, in its wave's ParallelFor); the pipeline
    functions below only declare the parameters. ``checkpoint_pvc``: None without a claim."""
    data_task = _configure(data(data_params=data_params), "data")
    splits = data_task.outputs["splits"]
    validate_task = _configure(validate(validate_params=validate_params, dataset=data_task.outputs["dataset"],
                                        splits=splits, pipeline_run_id=RUN_ID), "validate")
    augment_task = _configure(augment(augment_params=augment_params, splits=splits), "augment").after(validate_task)
    augmented = augment_task.outputs["augmented"]
    # like dvc.yaml's validate_augmented: the augmented split passes the same rules before training
    validate_augmented = _configure(validate(validate_params=validate_params, splits=splits, augmented=augmented,
                                             pipeline_run_id=RUN_ID),
                                    "validate").set_display_name(_display("validate_augmented"))
    training = {"accelerator_type": accelerator_type, "accelerator_count": accelerator_count, "nproc": train_nproc,
                "checkpoint_pvc": checkpoint_pvc, "retry_backoff": retry_backoff}

    with dsl.ParallelFor(variants, parallelism=parallelism) as variant:
        train_step = train_task(train_params, variant, splits, augmented, **training).after(validate_augmented)
        eval_task = _configure(evaluate(evaluate_params=evaluate_params, model=train_step.outputs["model"],
                                        splits=splits, pipeline_run_id=RUN_ID), "evaluate")
    evaluations = dsl.Collected(eval_task.outputs["evaluation"])

    if not followup_wave:
        compare_task = compare(compare_params=compare_params, evaluations=evaluations, pipeline_run_id=RUN_ID)
    else:
        init_task = _configure(collect_init_models(followup_variants=followup_variants,
                                                   models=dsl.Collected(train_step.outputs["model"])), "compare")
        with dsl.ParallelFor(followup_variants, parallelism=parallelism) as followup:
            followup_train = train_task(train_params, followup.variant, splits, augmented,
                                        init_from=followup.init_from, init_models=init_task.outputs["init_models"],
                                        **training).set_display_name(_display("train_followup"))
            followup_eval = _configure(evaluate(evaluate_params=evaluate_params, model=followup_train.outputs["model"],
                                                splits=splits, pipeline_run_id=RUN_ID),
                                       "evaluate").set_display_name(_display("evaluate_followup"))
        compare_task = compare(compare_params=compare_params, evaluations=evaluations,
                               followup_evaluations=dsl.Collected(followup_eval.outputs["evaluation"]),
                               pipeline_run_id=RUN_ID)
    _configure(compare_task, "compare")
    return compare_task.outputs["comparison"]


def _display(stage: str) -> str:
    """The KFP task name of a DAG stage whose component runs other stages too (``validate_augmented``)."""
    return dag.stage(stage).name.replace("_", "-")


def build_pipeline(arguments: dict[str, Any], *, parallelism: int | None = None, checkpoint_claim: bool = False,
                   retry_backoff: str = settings.TRAIN_RETRY_BACKOFF):
    """The pipeline for ``arguments`` (``pipeline_arguments``): a follow-up wave when
    ``arguments["followup_variants"]`` has any; ``parallelism`` caps each ParallelFor, ``checkpoint_claim``
    mounts a checkpoint claim (named by the ``checkpoint_pvc`` parameter) on training, ``retry_backoff`` is the
    wait before a failed training task's first retry.

    The parameters' defaults are ``arguments`` too, given to ``kfp.compiler.Compiler.compile`` as
    ``pipeline_parameters`` (kfp.local gets them as the run's arguments). Without a claim the pipeline has no
    ``checkpoint_pvc`` parameter at all: a Kubernetes volume cannot be mounted conditionally at run time (an
    empty claim name fails the pod), so a parameter there would be one that does nothing."""
    wave = {"followup_wave": bool(arguments["followup_variants"]), "parallelism": parallelism,
            "retry_backoff": retry_backoff}

    def multitask_pipeline(data_params: dict, validate_params: dict, augment_params: dict, train_params: dict,
                           evaluate_params: dict, compare_params: dict, variants: List[str],
                           followup_variants: List[dict],
                           accelerator_type: str = settings.DEFAULT_ACCELERATOR_TYPE,
                           accelerator_count: int = settings.DEFAULT_ACCELERATOR_COUNT,
                           train_nproc: int = settings.DEFAULT_TRAIN_NPROC) -> Markdown:
        return _wire(data_params, validate_params, augment_params, train_params, evaluate_params, compare_params,
                     variants, followup_variants, accelerator_type, accelerator_count, train_nproc, None, **wave)

    def multitask_pipeline_with_checkpoint_claim(
            data_params: dict, validate_params: dict, augment_params: dict, train_params: dict,
            evaluate_params: dict, compare_params: dict, variants: List[str], followup_variants: List[dict],
            accelerator_type: str = settings.DEFAULT_ACCELERATOR_TYPE,
            accelerator_count: int = settings.DEFAULT_ACCELERATOR_COUNT,
            train_nproc: int = settings.DEFAULT_TRAIN_NPROC, checkpoint_pvc: str = "") -> Markdown:
        return _wire(data_params, validate_params, augment_params, train_params, evaluate_params, compare_params,
                     variants, followup_variants, accelerator_type, accelerator_count, train_nproc, checkpoint_pvc,
                     **wave)

    chosen = multitask_pipeline_with_checkpoint_claim if checkpoint_claim else multitask_pipeline
    return dsl.pipeline(name=settings.PIPELINE_NAME, description=settings.PIPELINE_DESCRIPTION)(chosen)
