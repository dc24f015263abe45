"""The few settings the Kubeflow Pipelines wiring shares: the components' image, names, resources.

The image is the one setting users change: ``mtst kfp compile --image`` or ``$MTST_KFP_IMAGE`` (read when the
pipeline is compiled or run), which ``mtst.kfp.pipeline.with_image`` writes into every executor of the spec.
Build it from ``infra/``. Nothing here is a credential: the MLflow tracking URI and credentials reach the
tasks at run time from the ConfigMap and Secret named below (``infra/k8s/pipeline-env``), never through the
compiled YAML.
"""

from __future__ import annotations

from mtst import dag, environment

PIPELINE_NAME = "mtst-multitask"


def pipeline_description() -> str:
    """The DAG's stages in order, the per-variant ones inside the fan-out over their params.yaml key (what the
    KFP UI shows for the uploaded pipeline and its versions)."""
    steps: list[tuple[str, list[str]]] = []  # (a stage, [it]) or (a fan-out's key, [its stages])
    fanouts: dict[str, list[str]] = {}
    for stage in dag.STAGES:
        if stage.foreach is None:
            steps.append((stage.name, [stage.name]))
        elif stage.foreach in fanouts:
            fanouts[stage.foreach].append(stage.name)
        else:
            fanouts[stage.foreach] = [stage.name]
            steps.append((f"ParallelFor(pipeline.{stage.foreach}", fanouts[stage.foreach]))
    text = " -> ".join(key if names == [key] else f"{key}: {' -> '.join(names)})" for key, names in steps)
    return f"Multi-task sentence transformer: {text}."


PIPELINE_DESCRIPTION = pipeline_description()

DEFAULT_IMAGE: str = environment.default("kfp_image")
"""Local name of the image built from ``infra/Dockerfile`` (``mtst.environment``'s default of ``MTST_KFP_IMAGE``);
push it to your registry and point MTST_KFP_IMAGE at it."""

# Kubernetes objects (in the namespace the pipeline runs in) that carry MLflow settings to every task.
MLFLOW_CONFIG_MAP = "mtst-mlflow"
MLFLOW_CONFIG_MAP_KEYS = ("MLFLOW_TRACKING_URI",)
MLFLOW_SECRET = "mtst-mlflow-credentials"
MLFLOW_SECRET_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")

# Requests / limits per task (Kubernetes quantities). Training's are pipeline parameters too.
RESOURCES = {
    "data": {"cpu": "1", "memory": "4G", "cpu_limit": "2", "memory_limit": "8G"},
    "validate": {"cpu": "1", "memory": "4G", "cpu_limit": "2", "memory_limit": "8G"},
    "augment": {"cpu": "1", "memory": "2G", "cpu_limit": "2", "memory_limit": "4G"},
    "train": {"cpu": "4", "memory": "16G", "cpu_limit": "8", "memory_limit": "32G"},
    "evaluate": {"cpu": "2", "memory": "8G", "cpu_limit": "4", "memory_limit": "16G"},
    "compare": {"cpu": "500m", "memory": "1G", "cpu_limit": "1", "memory_limit": "2G"},
}
TRAIN_RETRIES = 2
TRAIN_RETRY_BACKOFF = "60s"
LOCAL_TRAIN_RETRY_BACKOFF = "0s"
"""``mtst kfp run-local`` retries at once: there is no node or scheduler to wait for on this machine."""
CHECKPOINT_MOUNT_PATH = "/mnt/mtst-checkpoints"
"""Where training tasks mount the checkpoint claim (``--checkpoint-pvc``); checkpoints go to
``<mount>/<run id>/<variant>/checkpoints``, where a retry of the task (a new pod) finds them."""
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
DEFAULT_ACCELERATOR_TYPE = "nvidia.com/gpu"
DEFAULT_ACCELERATOR_COUNT = 1
DEFAULT_TRAIN_NPROC = 1
"""Training processes per training task; > 1 runs ``torchrun --standalone --nproc-per-node N`` in the pod."""


def component_image(image: str | None = None) -> str:
    """The image every component runs in: ``image`` (``--image``), else ``$MTST_KFP_IMAGE``, else the default."""
    return image or environment.Environment.current().kfp_image
