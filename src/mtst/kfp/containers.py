"""The local run's tasks in containers: ``kfp.local.DockerRunner`` with the components' image (``make image``).

Each task runs in ``mtst:<version>-cpu`` (or ``--image``) as it would on a cluster: the image's Python and
packages, its baked source archives and WordNet, nothing from this checkout. Around kfp's runner:

- **Exit codes that can be trusted.** kfp starts every container with auto-remove and, when the container is
  already gone by the time it asks for the exit code, reports success (kfp issue #13332: a failing task
  "succeeds" and the run goes on with missing outputs). While a docker run is in progress the runner's
  container function is swapped for :func:`run_container`, which keeps the container until its exit code has
  been read, then removes it. After the run, :func:`missing_outputs` makes sure every task wrote its outputs.
- **No pulls.** The image must be local (``make image``); a missing one fails at once with the command that
  builds it, instead of kfp trying a registry.
- **Hardened, offline containers.** The caller's uid:gid (outputs in the pipeline root stay the caller's),
  all capabilities dropped, no privilege escalation, a read-only root filesystem with a private ``/tmp``
  (``HOME`` and the working directory, hence relative caches such as ``.cache/embeddings``, point there).
  No network unless MLflow is an ``http(s)`` server, then the host's network.
- **MLflow.** The tracking URI is resolved here (``$MLFLOW_TRACKING_URI``, ``tracking.uri``, else the
  embedded SQLite store of the checkout) and handed to every task with the client's ``MLFLOW_*`` settings;
  a local store's folder is mounted at the same path.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mtst import __version__
from mtst.config import ConfigError
from mtst.cpu import CAP_ENV
from mtst.environment import env_name

LOCAL_IMAGE = f"mtst:{__version__}-cpu"
"""What ``make image`` builds: the components' CPU image."""

# Client settings a task needs to reach the same MLflow store as this shell (credentials included), and the CPU
# class caps (mtst.cpu.CAP_ENV), so a task computes as the shell does.
PASSED_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
              "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_HTTP_REQUEST_TIMEOUT",
              "MLFLOW_HTTP_REQUEST_MAX_RETRIES", env_name("pipeline_id"), "TQDM_DISABLE",
              *CAP_ENV)


class ContainerError(ConfigError):
    """The container engine or the image is missing: a user error with the command that fixes it."""


def docker_client() -> Any:
    """A client for the local engine (``DOCKER_HOST`` or the default socket), or a clear error."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise ContainerError(f"no container engine answers ({exc}): start it with `make engine` "
                             "(installs and starts Debian's dockerd) or set DOCKER_HOST") from None
    return client


def require_image(image: str) -> None:
    import docker

    client = docker_client()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise ContainerError(f"image {image!r} is not in the local engine: build it with `make image` "
                             "(or pass --image)") from None
    finally:
        client.close()


def tracking_mounts(uri: str) -> list[str]:
    """Host folders a task needs for a local MLflow store: a SQLite file's folder (its artifacts lie beside
    it) or a file store's folder. None for a server."""
    from urllib.parse import urlparse

    from mtst.tracking import local_artifact_root

    artifacts = local_artifact_root(uri)
    scheme = urlparse(uri).scheme
    if artifacts is not None:
        folder = artifacts.parent
    elif scheme in ("", "file"):
        folder = Path(urlparse(uri).path if scheme == "file" else uri)
    else:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return [str(folder.resolve())]


def container_settings(tracking_uri: str) -> dict[str, Any]:
    """``containers.run`` arguments for every task (see the module's docstring)."""
    from docker.types import Mount

    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true", "GIT_PYTHON_REFRESH": "quiet", "HOME": "/tmp",
           "MPLCONFIGDIR": "/tmp/matplotlib",
           "MLFLOW_TRACKING_URI": tracking_uri}
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    remote = tracking_uri.split(":", 1)[0].lower() in ("http", "https")
    mounts = [Mount(target=path, source=path, type="bind") for path in tracking_mounts(tracking_uri)]
    return {"user": f"{os.getuid()}:{os.getgid()}", "environment": env, "working_dir": "/tmp",
            "network_mode": "host" if remote else "none", "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"], "read_only": True, "tmpfs": {"/tmp": "rw,exec,size=4g"},
            "shm_size": "1g", "mounts": mounts, "labels": {"mtst.kfp.local": "task"}}


def run_container(client: Any, image: str, command: list[str], volumes: Mapping[str, Any],
                  **container_run_args: Any) -> int:
    """kfp's ``run_docker_container`` without auto-remove: stream the logs, read the real exit code, remove."""
    container = client.containers.run(image=image, command=command, detach=True, stdout=True, stderr=True,
                                      volumes=dict(volumes), **container_run_args)
    try:
        for line in container.logs(stream=True, follow=True):
            print(line.decode(errors="replace"), end="")
        return int(container.wait()["StatusCode"])
    finally:
        container.remove(force=True)


@contextlib.contextmanager
def reliable_exit_codes() -> Iterator[None]:
    """Swap kfp's container function for :func:`run_container` for the duration of a run."""
    from kfp.local import docker_task_handler

    original = docker_task_handler.run_docker_container
    docker_task_handler.run_docker_container = run_container
    try:
        yield
    finally:
        docker_task_handler.run_docker_container = original


def tracking_uri(component_sections: Mapping[str, Any]) -> str:
    """The MLflow store the tasks log to (``component_sections``: a component's sections with ``tracking``, e.g.
    ``evaluate_params``), resolved here as a task would resolve it in this checkout."""
    from mtst.config import TrackingParams
    from mtst.kfp.sections import plain
    from mtst.tracking import resolve_tracking_uri

    return resolve_tracking_uri(TrackingParams(**plain(component_sections).get("tracking", {})))


def docker_runner(image: str, tracking_uri: str) -> Any:
    from kfp import local

    require_image(image)
    return local.DockerRunner(**container_settings(tracking_uri))


def missing_outputs(run_dir: str | Path) -> list[str]:
    """What the run's tasks should have written and did not: every task folder's executor output and the
    files its artifacts name, unless the artifact is its metadata (metrics) (the guard against an engine
    that misreports a failed container as successful). A folder without an executor output that holds task
    folders is a ParallelFor iteration; one that holds none is a task that did not finish."""
    run_dir = Path(run_dir)
    missing: list[str] = []
    folders = sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    while folders:
        folder = folders.pop(0)
        output = folder / "executor_output.json"
        if not output.is_file():
            if any(folder.rglob("executor_output.json")):
                folders = sorted(p for p in folder.iterdir() if p.is_dir()) + folders
            else:
                missing.append(f"{folder.relative_to(run_dir)}: no executor_output.json")
            continue
        for name, artifacts in json.loads(output.read_text(encoding="utf-8")).get("artifacts", {}).items():
            for artifact in artifacts.get("artifacts", []):
                uri = artifact.get("uri", "")  # metrics artifacts are their metadata: no file to look for
                if uri and not artifact.get("metadata") and not Path(uri.removeprefix("file://")).exists():
                    missing.append(f"{folder.relative_to(run_dir)}: output {name!r} ({uri}) was not written")
    return missing
