"""A real ``mlflow server`` subprocess on a free loopback port, over its own SQLite store and artifact folder."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

from helpers.server_process import ServerProcess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    return free_port()


class MlflowServer(ServerProcess):
    """``port``: a fixed one, e.g. the port of a killed server, to bring "the same server" back on its store."""

    what = "mlflow server"

    def __init__(self, root: Path, port: int | None = None) -> None:
        super().__init__(Path(root) / "server.log")
        self.root = Path(root)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        command = [str(Path(sys.executable).with_name("mlflow")), "server",
                   "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
                   "--artifacts-destination", str(self.root / "artifacts"),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.launch(command, env, f"{self.uri}/health", timeout, poll=0.3)
        return self

    def kill(self) -> None:
        """Lose the server: SIGKILL its process group, no shutdown (what a crashed or unplugged host looks like)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
