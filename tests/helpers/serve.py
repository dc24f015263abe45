"""A real ``mtst serve`` (MLServer from the serving environment) on free loopback ports, and a v2 client for it.

The serving environment (``MTST_SERVING_VENV``, default ``.venv-serving``, made by ``make serving-setup``) must
exist; :func:`require_serving_venv` skips a test without it on a developer's machine and fails it in CI (``CI``
set), where ``make test`` has made it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from helpers.mlflow_server import free_port
from helpers.server_process import ServerProcess


def require_serving_venv() -> Path:
    from mtst.environment import Environment

    venv = Environment.current().serving_venv
    if not (venv / "bin" / "mlserver").exists():
        message = f"no serving environment at {venv} (MTST_SERVING_VENV): `make serving-setup` makes it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return venv


def infer_body(texts: list[Any], **tensor: Any) -> dict[str, Any]:
    """A v2 request of ``texts`` (``tensor`` overrides its fields: name, datatype, shape, data)."""
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts, **tensor}]}


class ServedModel(ServerProcess):
    """``mtst serve --model MODEL`` in its own process group; ``params``: the params.yaml it reads."""

    what, tail_lines, grace = "mtst serve", 40, 20.0

    def __init__(self, root: Path, model: str, params: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(Path(root) / "serve.log")
        self.root, self.model, self.params = Path(root), model, params
        self.port, self.grpc_port, self.metrics_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.name = ""

    def start(self, timeout: float = 180) -> ServedModel:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [str(Path(sys.executable).with_name("mtst")), "serve", "--model", self.model,
                   "--params", str(self.params), "--out", str(self.root / "serving"), "--port", str(self.port),
                   "--grpc-port", str(self.grpc_port), "--metrics-port", str(self.metrics_port)]
        self.launch(command, self.env, f"{self.url}/v2/health/ready", timeout, poll=0.5)
        self.name = re.search(r"/v2/models/([^/\s]+)", self.log_path.read_text()).group(1)
        return self

    def infer(self, body: Any, **kwargs: Any) -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(f"{self.url}/v2/models/{self.name}/infer", data=data,
                             headers={"Content-Type": "application/json"}, timeout=60, **kwargs)

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text

