"""``mtst ui`` / ``make ui``: the MLflow UI (``mlflow server``) over the project's own store."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from mtst.config import TrackingParams
from mtst.evaluation.errors import TrackingError
from mtst.tracking.store import local_artifact_root, preflight, resolve_tracking_uri


def ui_command(params: TrackingParams | None = None, host: str = "127.0.0.1", port: int = 5000) -> tuple[list[str], dict[str, str]]:
    """``mlflow server`` over the project's store: argv and environment. A remote server has its own UI."""
    uri = resolve_tracking_uri(params)
    if urlparse(uri).scheme in ("http", "https"):
        raise TrackingError(f"the tracking store is the server {uri}: open that URL in a browser instead")
    preflight(params, uri)
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow_bin), "server", "--backend-store-uri", uri, "--host", host, "--port", str(port), "--workers", "1"]
    artifacts = local_artifact_root(uri)
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)
        command += ["--artifacts-destination", str(artifacts)]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return command, env
