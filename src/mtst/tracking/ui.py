"""``mtst ui`` / ``make ui``: the MLflow UI (``mlflow server``) over the project's own store, and the URL of the
experiment's training runs with the variants' key metrics side by side (``mtst.tracking.view``).

The server it starts has no login: whoever reaches the port can read every run and change runs, artifacts,
registered versions and the champion alias (what ``mtst predict`` runs). So it binds to the loopback interface,
and another address is refused unless ``allow_unauthenticated`` says the network is trusted; a shared server
belongs behind MLflow's basic-auth app (``infra/Dockerfile.mlflow``, ``infra/k8s/mlflow``).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mtst.config import TrackingParams
from mtst.tracking.errors import TrackingError
from mtst.tracking.store import Tracker, local_artifact_root, preflight, resolve_tracking_uri
from mtst.tracking.view import runs_url

WILDCARD_HOSTS = {"0.0.0.0", "::", ""}  # a server bound to every interface is browsed on the loopback one


@dataclass
class UiServer:
    """How to start the UI (``command`` with ``env``) and where the experiment's training runs are (``url``)."""

    command: list[str]
    env: dict[str, str]
    url: str
    store: str


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only: ``localhost`` or a loopback address (127.0.0.0/8,
    ::1). A wildcard (``0.0.0.0``, ``::``) or any other name is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def ui_command(params: TrackingParams | None = None, host: str = "127.0.0.1", port: int = 5000,
               allow_unauthenticated: bool = False) -> UiServer:
    """``mlflow server`` over the project's store. The experiment is opened first, so an experiment created
    before the view tags existed gets them and the printed URL lands on its training runs. A remote server has
    its own UI. A ``host`` other than a loopback one is refused unless ``allow_unauthenticated`` (module
    docstring)."""
    if not is_loopback(host) and not allow_unauthenticated:
        raise TrackingError(
            f"mtst ui --host {host}: the MLflow UI has no login, so anyone who reaches {host}:{port} could read "
            "every run and change runs, models and the champion alias that `mtst predict` loads. Keep the default "
            "--host 127.0.0.1 (reach it from elsewhere through an SSH tunnel), run a server with MLflow's basic-auth "
            "app (infra/Dockerfile.mlflow), or pass --allow-unauthenticated if everyone on that network may do so")
    params = params or TrackingParams()
    uri = resolve_tracking_uri(params)
    if urlparse(uri).scheme in ("http", "https"):
        raise TrackingError(f"the tracking store is the server {uri}: open that URL in a browser instead")
    preflight(params, uri)
    experiment_id = Tracker.open(params, uri).experiment_id
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow_bin), "server", "--backend-store-uri", uri, "--host", host, "--port", str(port),
               "--workers", "1"]
    artifacts = local_artifact_root(uri)
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)
        command += ["--artifacts-destination", str(artifacts)]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    browse = "127.0.0.1" if host in WILDCARD_HOSTS else (f"[{host}]" if ":" in host else host)
    return UiServer(command, env, runs_url(f"http://{browse}:{port}", experiment_id), uri)
