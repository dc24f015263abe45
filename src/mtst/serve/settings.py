"""MLServer's two settings files, written from params.yaml (the ``serve`` section; the model's name is
``compare.registered_model``, the longest text ``validate.max_chars``): ``settings.json`` (the server) and
``<name>/model-settings.json`` (the model, run by ``mtst.serve.runtime.MtstRuntime``).

Settings fixed here, not in params.yaml, and why:
- ``parallel_workers: 0``: the model runs in the server's own process. With worker processes MLServer batches in
  the main process and runs the model in the workers, so a request could be checked only after it was merged
  into a batch, and one bad request would fail its whole batch (``mtst.serve.limits``). The model call runs on a
  thread with all the node's cores (``serve.threads``), so one process uses the machine.
- ``model_repository_implementation``: ``mtst.serve.repository.Repository``, the hook that caps the body size.
- ``load_models_at_startup``: the one model in the folder; ``debug: false``: no access log per request.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mtst.config import Params
from mtst.io import write_json
from mtst.serve.limits import SETTINGS, Limits

SETTINGS_FILE, MODEL_SETTINGS_FILE = "settings.json", "model-settings.json"
RUNTIME = "mtst.serve.runtime.MtstRuntime"
REPOSITORY = "mtst.serve.repository.Repository"


def limits(params: Params) -> Limits:
    """The caps, read from the keys :data:`mtst.serve.limits.SETTINGS` names."""
    values = {}
    for cap, key in SETTINGS.items():
        section, field = key.split(".")
        values[cap] = getattr(getattr(params, section), field)
    return Limits(**values)


def model_name(params: Params) -> str:
    """The name in the URLs (``/v2/models/<name>/infer``): the registered model's."""
    return params.compare.registered_model


def server_settings(params: Params) -> dict[str, Any]:
    """The server: addresses, ports, and the body cap (REST: ``mtst.serve.body``; gRPC: its message length)."""
    serve, cap = params.serve, limits(params).max_body_bytes
    return {"debug": False, "host": serve.host, "http_port": serve.port, "grpc_port": serve.grpc_port,
            "metrics_port": serve.metrics_port, "parallel_workers": 0, "load_models_at_startup": True,
            "grpc_max_message_length": cap, "model_repository_implementation": REPOSITORY,
            "model_repository_implementation_args": {"max_body_bytes": cap}}


def model_settings(params: Params, uri: str, version: str | None = None) -> dict[str, Any]:
    """The model: the export folder ``uri`` (relative: to the model-settings file's folder, as MLServer resolves
    it) run by ``serve.backend``; ``version``: the registered version."""
    serve = params.serve
    return {"name": model_name(params), "implementation": RUNTIME,
            "max_batch_size": serve.max_batch_size, "max_batch_time": serve.max_batch_time_ms / 1000,
            "parameters": {"uri": uri, **({"version": version} if version else {}),
                           "extra": {"backend": serve.backend, "threads": serve.threads,
                                     "limits": asdict(limits(params))}}}


def write(folder: Path, params: Params, export: Path, version: str | None = None) -> Path:
    """Both files into ``folder`` (a folder being filled by ``mtst.io.atomic_dir``): MLServer's model folder. An
    ``export`` inside ``folder`` is named relative to it, so the folder serves wherever it is moved (a volume)."""
    model_folder = folder / model_name(params)
    uri = os.path.relpath(export, model_folder) if export.is_relative_to(folder) else str(export.resolve())
    write_json(folder / SETTINGS_FILE, server_settings(params))
    write_json(model_folder / MODEL_SETTINGS_FILE, model_settings(params, uri, version))
    return folder
