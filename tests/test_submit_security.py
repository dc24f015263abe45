"""`mtst kfp submit` transport safety and credential redaction: a bearer token is never sent over plain HTTP
to another machine, every request times out, a private CA is trusted with --ssl-ca-cert (a real TLS server
with a certificate made here), and credentials inside tracking.uri are masked in what is sent and printed."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mtst.cli import app
from mtst.config import read_params_dict
from mtst.redaction import redact_params, redact_text, redact_uri

sys.path.insert(0, str(Path(__file__).parent))
from kfp_api_server import KfpApiServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.mark.parametrize("uri, expected", [
    ("https://alice:hunter2@mlflow.example:5000/base?x=1", "https://alice:***@mlflow.example:5000/base?x=1"),
    ("https://tok3n@mlflow.example", "https://***@mlflow.example"),
    ("postgresql://mlflow:pg-pass@db:5432/mlflow", "postgresql://mlflow:***@db:5432/mlflow"),
    ("https://mlflow.example/?token=abc&experiment=3", "https://mlflow.example/?token=***&experiment=3"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("sqlite:////work/mlflow.db", "sqlite:////work/mlflow.db"),
    ("databricks", "databricks"),
])
def test_redact_uri(uri, expected):
    assert redact_uri(uri) == expected


def test_redact_text_and_params():
    message = "error: MLflow server https://alice:hunter2@mlflow.example:5000 cannot be reached (http://x:y@h)"
    assert redact_text(message) == "error: MLflow server https://alice:***@mlflow.example:5000 cannot be reached (http://x:***@h)"
    params = {"tracking": {"uri": "https://alice:hunter2@mlflow.example"}, "train": {"seed": 1}}
    assert redact_params(params) == {"tracking": {"uri": "https://alice:***@mlflow.example"}, "train": {"seed": 1}}
    assert params["tracking"]["uri"].endswith("hunter2@mlflow.example")  # the caller's copy is untouched


@pytest.fixture()
def kfp_home(tmp_path, monkeypatch):
    """kfp.Client keeps a context file under ~/.config/kfp: keep it out of the real home."""
    import kfp.client.client as client_module

    monkeypatch.setattr(client_module.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    monkeypatch.chdir(ROOT)
    return tmp_path


def test_token_is_never_sent_over_plain_http_to_another_host(kfp_home, monkeypatch):
    start = time.monotonic()
    result = runner.invoke(app, ["kfp", "submit", "--host", "http://kfp.example.invalid:8080", "--token", "bearer-xyz",
                                 "--profile", "smoke"])
    assert result.exit_code == 2, result.output
    assert "refusing to send the bearer token over plain HTTP" in result.output
    monkeypatch.setenv("MTST_KFP_TOKEN", "bearer-from-env")  # the same token, from the environment setting
    from_env = runner.invoke(app, ["kfp", "submit", "--host", "http://kfp.example.invalid:8080", "--profile", "smoke"])
    assert from_env.exit_code == 2 and "refusing to send the bearer token over plain HTTP" in from_env.output
    monkeypatch.delenv("MTST_KFP_TOKEN")
    assert time.monotonic() - start < 10  # refused before compiling or connecting
    missing = runner.invoke(app, ["kfp", "submit", "--host", "https://kfp.example.invalid", "--profile", "smoke",
                                  "--ssl-ca-cert", str(kfp_home / "none.pem")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_every_request_times_out(kfp_home):
    """An endpoint that accepts connections and never answers: the command ends with an error, not a hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        result = runner.invoke(app, ["kfp", "submit", "--host", f"http://127.0.0.1:{listener.getsockname()[1]}",
                                     "--profile", "smoke", "--timeout", "1"])
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()
    assert result.exit_code == 2, result.output
    assert "error: KFP API at" in result.output and "timed out" in result.output.lower()
    assert held and elapsed < 60


@pytest.fixture()
def tls_server(tmp_path):
    """The KFP API stand-in behind TLS, with a certificate for 127.0.0.1 signed by a CA made here."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    server = KfpApiServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)  # noqa: SLF001
    with server:
        yield server, server.url.replace("http://", "https://"), tmp_path / "cert.pem"


def test_private_ca_and_redacted_tracking_uri(kfp_home, tls_server, tmp_path):
    server, url, ca = tls_server
    params = read_params_dict(ROOT / "params.yaml", "smoke")
    params["tracking"]["uri"] = "https://alice:hunter2@mlflow.example"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["kfp", "submit", "--host", url, "--token", "bearer-xyz", "--params", str(tmp_path / "params.yaml")]

    untrusted = runner.invoke(app, [*args, "--timeout", "5"])
    assert untrusted.exit_code == 2 and "CERTIFICATE_VERIFY_FAILED" in untrusted.output
    assert not server.requests  # nothing (no token) went to a server that could not be verified

    result = runner.invoke(app, [*args, "--ssl-ca-cert", str(ca)])
    assert result.exit_code == 0, result.output
    assert server.errors == [] and server.requests
    assert all(r.headers.get("authorization") == "Bearer bearer-xyz" for r in server.requests)
    (run_call,) = server.calls("run_service_create_run")
    for name in ("evaluate_params", "compare_params"):  # the sections with tracking
        sent = run_call.json["runtime_config"]["parameters"][name]
        assert sent["tracking"]["uri"] == "https://alice:***@mlflow.example"
    assert "hunter2" not in result.stdout


def test_compiled_pipeline_and_printed_params_carry_no_tracking_password(repo_root, tmp_path):
    raw = read_params_dict(repo_root / "params.yaml", "smoke")
    raw["tracking"]["uri"] = "https://pipeline:s3cr3t-pw@mlflow.example:5000"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    compiled = CliRunner().invoke(app, ["kfp", "compile", "--params", str(tmp_path / "params.yaml"),
                                        "--out", str(tmp_path / "pipeline.yaml")])
    assert compiled.exit_code == 0, compiled.output
    text = (tmp_path / "pipeline.yaml").read_text()
    assert "s3cr3t-pw" not in text and "mlflow.example:5000" in text
    shown = CliRunner().invoke(app, ["params", "show", "--params", str(tmp_path / "params.yaml")])
    assert shown.exit_code == 0 and "s3cr3t-pw" not in shown.output and "mlflow.example" in shown.output
