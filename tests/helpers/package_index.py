"""A package index on a loopback port (PEP 503 HTML / PEP 691 JSON simple API) and sdists to serve from it: what
the tests of fetching and installing point pip, or ``mtst data fetch``, at instead of PyPI."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class PackageIndex:
    """A PEP 503 / PEP 691 simple index on a loopback port, serving ``body`` as the file ``filename``. ``mode``
    shapes the file's answer: ``ok``, ``stall`` (headers, one block, then silence), ``trickle`` (a byte at a
    time), ``unsized`` (no Content-Length: close-delimited, as an HTTP/1.0 server may send). Without ``json_api``
    it answers PEP 503 HTML only, as older indexes do."""

    def __init__(self, filename: str, body: bytes, *, declared: str | None = None, mode: str = "ok",
                 json_api: bool = True) -> None:
        self.body, self.declared, self.mode = body, declared, mode
        self.requests: list[str] = []
        self.release = threading.Event()
        index = self
        project = filename.split("-")[0].lower()  # the simple API's page: the file's normalized project

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                index.requests.append(self.path)
                page = f"/simple/{project}/"
                if self.path == page:
                    self._page(json_api and "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""))
                elif self.path == f"/files/{filename}":
                    self._file()
                else:
                    self.send_error(404)

            def _page(self, as_json: bool) -> None:
                fragment = f"#sha256={index.declared}" if index.declared else ""
                if as_json:
                    hashes = {"sha256": index.declared} if index.declared else {}
                    body = json.dumps({"meta": {"api-version": "1.0"}, "name": project, "files": [
                        {"filename": filename, "url": f"../../files/{filename}", "hashes": hashes}]})
                    kind = "application/vnd.pypi.simple.v1+json"
                else:
                    body = f'<html><body><a href="../../files/{filename}{fragment}">{filename}</a>'
                    kind = "text/html"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def _file(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if index.mode != "unsized":
                    self.send_header("Content-Length", str(len(index.body)))
                self.end_headers()
                if index.mode == "stall":
                    self.wfile.write(index.body[:1000])
                    self.wfile.flush()
                    index.release.wait(30)
                elif index.mode == "trickle":
                    for i in range(len(index.body)):
                        self.wfile.write(index.body[i:i + 1])
                        self.wfile.flush()
                        if index.release.wait(0.05):
                            return
                else:
                    self.wfile.write(index.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def sdist(name: str, version: str, marker: Path | None = None) -> bytes:
    """``<name>-<version>.tar.gz``: a setup.py project built by setuptools; with ``marker``, a hostile one whose
    in-tree build backend (pyproject.toml) and setup.py each write ``marker`` when run, so anything that prepares
    its metadata (``pip download``, ``pip install``) leaves the mark."""
    if marker is None:
        files = {"setup.py": f"from setuptools import setup\nsetup(name={name!r}, version={version!r}, py_modules=[])\n"}
    else:
        payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        files = {
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
            "backend.py": payload + "def get_requires_for_build_wheel(config_settings=None):\n    return []\n",
            "setup.py": payload,
        }
    files["PKG-INFO"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for filename, text in files.items():
            info = tarfile.TarInfo(f"{name}-{version}/{filename}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()
