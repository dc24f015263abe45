"""Headless Chromium (Debian ``chromium``) driven over the Chrome DevTools Protocol with websocket-client:
open a page, wait for text, click, read the rendered text, take a screenshot. Enough for a React app such
as the MLflow UI, which ``--dump-dom`` alone catches before its data has loaded."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,900", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0"]


class Chromium:
    def __init__(self, binary: str = CHROMIUM, timeout: float = 30) -> None:
        import websocket

        self.profile = Path(tempfile.mkdtemp(prefix="mtst-chromium-"))
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not open its DevTools port (exit {self.proc.returncode})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result.get("result", {}).get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, *needles: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles):
                return text
            time.sleep(0.25)
        raise TimeoutError(f"page never showed {needles}; it shows:\n{text[:1500]}")

    def wait_for_selector(self, selector: str, timeout: float = 30) -> int:
        """Wait until at least one element matches; returns how many do."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = int(self.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length") or 0)
            if count:
                return count
            time.sleep(0.25)
        raise TimeoutError(f"no element matches {selector!r}; the page shows:\n{self.text()[:1500]}")

    def click_all(self, selector: str) -> int:
        return int(self.evaluate(f"(() => {{ const found = [...document.querySelectorAll({json.dumps(selector)})];"
                                 f" found.forEach(e => e.click()); return found.length; }})()") or 0)

    def screenshot(self, path: str | Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
            shutil.rmtree(self.profile, ignore_errors=True)
