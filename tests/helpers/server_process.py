"""A real server subprocess in its own process group, started and waited for until a URL answers 200, its output in
a log file: what the MLflow server and ``mtst serve`` helpers share."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests


class ServerProcess:
    """``what`` names the server in errors; ``tail_lines``: how much of its log an error shows; ``grace``: seconds a
    SIGTERM gets before SIGKILL."""

    what = "server"
    tail_lines = 30
    grace = 15.0

    def __init__(self, log_path: Path) -> None:
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self, command: list[str], env: dict[str, str], ready_url: str, timeout: float, poll: float) -> None:
        """Start ``command`` and return once ``ready_url`` answers 200; an exit or ``timeout`` raises with the log."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(ready_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(poll)
        self.stop()
        raise TimeoutError(f"{self.what} not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, n: int | None = None) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-(n or self.tail_lines):])

    def stop(self) -> None:
        """Stop the server's own process group (the server and any worker it started)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=self.grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
