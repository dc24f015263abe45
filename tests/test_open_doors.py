"""No open doors: `mtst ui` serves a store without a login only on the loopback interface unless told otherwise;
the MLflow server image runs its basic-auth app by default, as the cluster does; every form of credential in a
URI is masked before it is printed; the tracking preflight reaches a server the way MLflow's client does, through
a private CA, with a client certificate or a token (real HTTPS and HTTP servers, certificates made here)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mtst.tracking.errors import TrackingError

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_CLIENT_SETTINGS = ("MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_CLIENT_CERT_PATH",
                          "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
                          "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI")


# ---- mtst ui ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "mlflow.example.org"])
def test_ui_refuses_a_non_loopback_host_without_being_told(host, tmp_path, monkeypatch):
    from mtst.config import TrackingParams
    from mtst.tracking import ui_command

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(TrackingError, match="has no login") as error:
        ui_command(TrackingParams(experiment="ui"), host=host, port=5123)
    assert "--allow-unauthenticated" in str(error.value) and f"{host}:5123" in str(error.value)
    assert not (tmp_path / "mlflow.db").exists()  # refused before the store is touched


def test_ui_serves_loopback_and_an_explicitly_allowed_host(tmp_path, monkeypatch):
    from mtst.config import TrackingParams
    from mtst.tracking import ui_command

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        server = ui_command(TrackingParams(experiment="ui"), host=host, port=5123)
        assert server.command[server.command.index("--host") + 1] == host
    server = ui_command(TrackingParams(experiment="ui"), host="0.0.0.0", port=5123, allow_unauthenticated=True)
    assert server.command[server.command.index("--host") + 1] == "0.0.0.0"


def test_ui_cli_says_why_and_exits_2(tmp_path, monkeypatch):
    from mtst.cli import app

    started: list[list[str]] = []  # the command replaces its process with the server (os.execve): recorded here
    monkeypatch.setattr("os.execve", lambda path, argv, env: started.append(argv))
    monkeypatch.chdir(ROOT)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--port", "5123"], env=env)
    assert result.exit_code == 2 and "has no login" in result.stderr and "--allow-unauthenticated" in result.stderr
    assert "Traceback" not in result.stderr and started == []
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--port", "5123", "--allow-unauthenticated"], env=env)
    assert result.exit_code == 0 and "warning: serving without a login on 0.0.0.0:5123" in result.stderr
    assert len(started) == 1 and started[0][started[0].index("--host") + 1] == "0.0.0.0"


# ---- the MLflow server image ---------------------------------------------------------------------------
def test_the_mlflow_image_runs_the_auth_app_by_default_as_the_cluster_does():
    cmd = [line for line in (ROOT / "infra" / "Dockerfile.mlflow").read_text().splitlines() if line.startswith("CMD ")]
    assert len(cmd) == 1
    command = json.loads(cmd[0][len("CMD "):])
    assert command[:2] == ["mlflow", "server"]
    image = dict(zip(command[2::2], command[3::2], strict=True))
    assert image["--app-name"] == "basic-auth"
    manifests = yaml.safe_load_all((ROOT / "infra" / "k8s" / "mlflow" / "mlflow-server.yaml").read_text())
    deployment = next(m for m in manifests if m and m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    cluster = dict(arg.split("=", 1) for arg in container["args"] if arg.startswith("--") and "=" in arg)
    assert container["command"] == command[:2]
    for option in ("--app-name", "--host", "--port"):
        assert cluster[option] == image[option], option


# ---- redact_uri -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("uri, expected", [
    ("https://alice:pa:ss@mlflow.example/x", "https://alice:***@mlflow.example/x"),           # ':' in the password
    ("https://alice:p@ss@mlflow.example/x", "https://alice:***@mlflow.example/x"),            # '@'
    ("https://alice:pa/ss@mlflow.example/x", "https://alice:***@mlflow.example/x"),           # '/' (unencoded)
    ("https://alice:pa#ss@mlflow.example/x", "https://alice:***@mlflow.example/x"),           # '#'
    ("https://alice:pa?ss@mlflow.example/x?token=t", "https://alice:***@mlflow.example/x?token=***"),  # '?'
    ("https://alice:p@s/s?x#y@mlflow.example:5000/x", "https://alice:***@mlflow.example:5000/x"),  # all of them
    ("postgresql://mlflow:p%40ss%2Fw@db:5432/mlflow", "postgresql://mlflow:***@db:5432/mlflow"),  # encoded
    ("s3://bucket/m?X-Amz-Credential=AKIA&X-Amz-Signature=abc&X-Amz-Security-Token=tok&X-Amz-Date=1",
     "s3://bucket/m?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***&X-Amz-Date=1"),
    ("https://acct.blob.core.windows.net/c/m?sv=2024&sig=s3cr3t&se=2026", "https://acct.blob.core.windows.net/c/m?sv=2024&sig=***&se=2026"),
    ("https://h/x?access_token=a&api_key=b&apikey=c&password=d&secret=e&key=f&session=g&page=2",
     "https://h/x?access_token=***&api_key=***&apikey=***&password=***&secret=***&key=***&session=***&page=2"),
    ("https://h/callback#access_token=abc&state=1", "https://h/callback#access_token=***&state=1"),  # fragment
    ("https://mlflow.example/users/@me", "https://mlflow.example/users/@me"),  # an '@' in a path is no userinfo
])
def test_redact_uri_masks_every_form(uri, expected):
    from mtst.redaction import redact_text, redact_uri

    assert redact_uri(uri) == expected
    assert redact_text(f"error: store {uri} failed") == f"error: store {expected} failed"


# ---- the tracking preflight: TLS and tokens as MLflow's client uses them ---------------------------------
class Certificates:
    """A private CA (made here), a server certificate for 127.0.0.1 it signed, and a client certificate."""

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self._x509, self._ec, self._oid = x509, ec, NameOID
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mtst test private CA")])
        self.ca = self._builder(name, name, self.ca_key.public_key()) \
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True) \
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True) \
            .sign(self.ca_key, self._sha256())
        self.ca_pem = self._write(folder / "ca.pem", self.ca)
        self.server_pem, self.server_key = self._leaf(folder / "server", "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH)
        client_pem, client_key = self._leaf(folder / "client", "mtst-pipeline", ExtendedKeyUsageOID.CLIENT_AUTH)
        self.client_pem = folder / "client-with-key.pem"  # MLFLOW_TRACKING_CLIENT_CERT_PATH: certificate + key
        self.client_pem.write_bytes(client_pem.read_bytes() + client_key.read_bytes())

    @staticmethod
    def _sha256():
        from cryptography.hazmat.primitives import hashes

        return hashes.SHA256()

    def _builder(self, subject, issuer, public_key):
        x509 = self._x509
        now = datetime.datetime.now(datetime.timezone.utc)
        return x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key) \
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5)) \
            .not_valid_after(now + datetime.timedelta(days=1)) \
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)

    def _leaf(self, stem: Path, common_name: str, usage) -> tuple[Path, Path]:
        from cryptography.hazmat.primitives import serialization

        x509 = self._x509
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(self._oid.COMMON_NAME, common_name)])
        cert = self._builder(subject, self.ca.subject, key.public_key()) \
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True) \
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False) \
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False) \
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False) \
            .sign(self.ca_key, self._sha256())
        key_path = stem.with_suffix(".key")
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return self._write(stem.with_suffix(".pem"), cert), key_path

    @staticmethod
    def _write(path: Path, cert) -> Path:
        from cryptography.hazmat.primitives import serialization

        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path


class Server:
    """A real HTTP(S) server on a free loopback port answering as MLflow's does: ``GET /health`` → 200 ``OK``,
    ``GET /api/2.0/mlflow/experiments/search`` → 200 JSON. ``token``: every request needs ``Authorization: Bearer
    <token>`` (else 401); ``health=False``: no /health (a proxy in front of the API), 404."""

    def __init__(self, tls: ssl.SSLContext | None = None, token: str | None = None, health: bool = True) -> None:
        owner = self
        self.seen: list[tuple[str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                path = self.path.split("?", 1)[0]
                owner.seen.append((path, self.headers.get("Authorization")))
                if path == "/health" and not health:
                    return self._answer(404, b"Not Found", "text/plain")
                if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                    return self._answer(401, b'{"error_code": "UNAUTHENTICATED"}', "application/json")
                if path == "/health":
                    return self._answer(200, b"OK", "text/plain; charset=utf-8")
                if path == "/api/2.0/mlflow/experiments/search":
                    return self._answer(200, b'{"experiments": []}', "application/json")
                return self._answer(404, b"Not Found", "text/plain")

            def _answer(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.uri = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def clean_client_settings(monkeypatch) -> None:
    for name in MLFLOW_CLIENT_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("pki"))


def _tls(certificates: Certificates, client_ca: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_pem, certificates.server_key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(certificates.ca_pem)
    return context


@pytest.fixture
def private_ca_server(certificates) -> Iterator[Server]:
    server = Server(_tls(certificates))
    yield server
    server.close()


def test_preflight_trusts_the_private_ca_mlflow_is_told_of(private_ca_server, certificates, clean_client_settings,
                                                           monkeypatch):
    from mtst.tracking.store import preflight

    with pytest.raises(TrackingError, match="TLS verification failed") as error:  # the system CAs: not trusted
        preflight(uri=private_ca_server.uri, timeout=5)
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in str(error.value)
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(certificates.ca_pem))
    assert preflight(uri=private_ca_server.uri, timeout=5) == private_ca_server.uri
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")  # MLflow's own switch: no check at all
    assert preflight(uri=private_ca_server.uri, timeout=5) == private_ca_server.uri
    assert [path for path, _ in private_ca_server.seen] == ["/health", "/health"]


def test_preflight_presents_the_client_certificate(certificates, clean_client_settings, monkeypatch):
    from mtst.tracking.store import preflight

    server = Server(_tls(certificates, client_ca=True))
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(certificates.ca_pem))
        with pytest.raises(TrackingError):  # no client certificate: the server ends the handshake
            preflight(uri=server.uri, timeout=5)
        monkeypatch.setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", str(certificates.client_pem))
        assert preflight(uri=server.uri, timeout=5) == server.uri
    finally:
        server.close()


@pytest.mark.parametrize("health", [True, False], ids=["health", "behind-a-proxy-without-health"])
def test_preflight_sends_the_tracking_token(health, clean_client_settings, monkeypatch):
    from mtst.tracking.store import preflight

    server = Server(token="s3cr3t-token", health=health)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cr3t-token")
        assert preflight(uri=server.uri, timeout=5) == server.uri
        assert server.seen[-1][1] == "Bearer s3cr3t-token"
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "wrong")
        with pytest.raises(TrackingError, match=re.escape("refused the credentials (HTTP 401)")) as error:
            preflight(uri=server.uri, timeout=5)
        assert "wrong" not in str(error.value) and "s3cr3t" not in str(error.value)
    finally:
        server.close()
