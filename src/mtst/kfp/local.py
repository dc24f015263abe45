"""``run_local``: the compiled pipeline's DAG run on this machine with ``kfp.local.SubprocessRunner``.

Every task runs in a subprocess of this interpreter (``use_venv=False``: no virtualenv, no pip: the
components set ``install_kfp_package=False`` and install nothing), so it works offline. Platform settings
(resources, accelerators, the Kubernetes ConfigMap / Secret) do not apply locally; MLflow settings come
from this process's environment instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mtst.config import ConfigError
from mtst.dag import LAYOUT
from mtst.environment import Environment, env_name
from mtst.kfp import settings
from mtst.kfp.arguments import pipeline_arguments
from mtst.kfp.pipeline import PipelineBuilder, with_image


class LocalRunError(RuntimeError):
    """A task of the local run failed; its log is above (kfp.local streams every task's output)."""


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def task_env() -> dict[str, str]:
    """Environment the task subprocesses need that the image bakes in: the pinned source archives' cache and
    WordNet for nltk (absolute paths; by default ``.cache/`` of the working directory, as for ``mtst data
    fetch``), and the offline switches."""
    env = {k: os.environ.get(k, v) for k, v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                                               "TOKENIZERS_PARALLELISM": "false",
                                               "MLFLOW_DISABLE_TELEMETRY": "true"}.items()}
    env[env_name("source_cache")] = str(Environment.current().source_cache.resolve())
    nltk = os.environ.get("NLTK_DATA") or ".cache/nltk_data"
    env["NLTK_DATA"] = os.pathsep.join(str(Path(p).resolve()) for p in nltk.split(os.pathsep) if p)
    return env


def run_local(build: PipelineBuilder, *, params_path: str | Path = "params.yaml", profile: str | None = None,
              variants: Iterable[str] | None = None, root: str | Path = LAYOUT.kfp_local_root,
              cache: bool = False, parallelism: int = 1, runner: str = "subprocess",
              image: str | None = None) -> dict[str, Any]:
    """Run the pipeline that ``build`` makes (``pipelines.multitask_pipeline.build_pipeline``) locally; return
    the run folder, the comparison and each variant's evaluation.
    A failed training task is retried at once and resumes from its checkpoints, which live under
    ``<root>/.checkpoints/<run id>/<variant>/`` until it succeeds.
    ``runner="docker"``: every task in the components' image (``image``, default ``mtst:<version>-cpu``) with
    kfp's DockerRunner (``mtst.kfp.containers``)."""
    if runner not in ("subprocess", "docker"):
        raise ConfigError(f"unknown runner {runner!r}: subprocess or docker")
    args = pipeline_arguments(params_path, profile, variants)
    task_runner = None
    if runner == "docker":
        from mtst.kfp import containers

        image = image or containers.LOCAL_IMAGE
        task_runner = containers.docker_runner(image, containers.tracking_uri(args["evaluate_params"]))
    pipeline = with_image(build(args, parallelism=parallelism, retry_backoff=settings.LOCAL_TRAIN_RETRY_BACKOFF),
                          image)
    with containers.reliable_exit_codes() if task_runner else contextlib.nullcontext():
        task = run_locally(pipeline, args, root=root, cache=cache, runner=task_runner)
    comparison = Path(task.output.path)
    run_dir = comparison.parents[1]
    if task_runner and (missing := containers.missing_outputs(run_dir)):
        raise LocalRunError("tasks reported success without their outputs: " + "; ".join(missing))
    return {"run_dir": str(run_dir), "comparison": str(comparison),
            "evaluations": evaluations(run_dir), "variants": args["variants"] + args["followup_variants"]}


def run_locally(pipeline: Any, arguments: dict[str, Any], *, root: str | Path, cache: bool = False,
                runner: Any = None) -> Any:
    """Run a pipeline of this project's components with ``SubprocessRunner`` under the pipeline root ``root``
    (tasks' outputs in ``<root>/<pipeline>-<time>/<task>/``); return kfp's pipeline task."""
    from kfp import local

    root = Path(root).resolve()
    (root / ".workspace").mkdir(parents=True, exist_ok=True)
    local.init(runner=runner or local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               workspace_root=str(root / ".workspace"), raise_on_error=True, enable_caching=cache)
    with _env(task_env()), warnings.catch_warnings():
        # The SubprocessRunner warns when an image name lacks "python"; locally the image is not used.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*", category=RuntimeWarning)
        # ... and that resources / accelerators have no local effect (they are for the cluster).
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*", category=UserWarning)
        try:
            return pipeline(**arguments)
        except RuntimeError as exc:
            import re

            message = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # kfp colours its messages
            raise LocalRunError(f"{message} Task logs are above; outputs under {root}.") from None


def evaluations(run_dir: str | Path) -> dict[str, str]:
    """``{variant: evaluation folder}`` of a local run, from each evaluate task's executor output."""
    found: dict[str, str] = {}
    for output in sorted(Path(run_dir).glob("**/evaluate*/executor_output.json")):
        artifacts = json.loads(output.read_text(encoding="utf-8")).get("artifacts", {})
        for artifact in artifacts.get("evaluation", {}).get("artifacts", []):
            variant = (artifact.get("metadata") or {}).get("variant")
            if variant:
                found[variant] = str(output.parent / "evaluation")
    return dict(sorted(found.items()))
