"""The tracking store: where it is, a preflight that fails in seconds, store failures as ``TrackingError``, and
``Tracker``, a client bound to one store and experiment.

HTTP calls are retried ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times (default here 3, backoff factor 1: about 7 s in
all, instead of MLflow's own minutes); both environment variables override this.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mtst.config import TrackingParams
from mtst.redaction import redact_uri
from mtst.tracking.errors import TrackingError
from mtst.tracking.values import metric_key, numeric

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# a lost server fails the step in seconds, not after MLflow's default 7 retries with exponential backoff
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")

PARENT_TAG = "mlflow.parentRunId"


# ---- where the store is ------------------------------------------------------------------------------
def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder from ``start`` (default: the working directory) upwards that holds params.yaml."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "params.yaml").exists():
            return folder
    return start


def default_tracking_uri(root: str | Path | None = None) -> str:
    return f"sqlite:///{Path(root or project_root()) / 'mlflow.db'}"


def resolve_tracking_uri(params: TrackingParams | None = None, root: str | Path | None = None) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or (params.uri if params and params.uri else None) \
        or default_tracking_uri(root)


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:"):
        return None
    path = uri.split("sqlite://", 1)[1] if uri.startswith("sqlite://") else uri.split(":", 1)[1]
    return Path(path[1:] if path.startswith("//") else path)  # sqlite:////abs -> //abs; sqlite:///rel -> /rel


def local_artifact_root(uri: str) -> Path | None:
    """For the embedded SQLite store: the artifact folder beside the database (``mlartifacts``). None for any
    other store: a server keeps its own artifacts, a file store keeps them inside its folder."""
    db = _sqlite_path(uri)
    return db.parent / "mlartifacts" if db is not None else None


# ---- preflight ---------------------------------------------------------------------------------------
def preflight(params: TrackingParams | None = None, uri: str | None = None, timeout: float | None = None) -> str:
    """Check the store answers, within seconds, before any training. Returns the resolved URI.

    http(s): ``GET <uri>/health`` (then the REST API if the server has no /health) with a short timeout.
    SQLite / folder: the folder exists or can be created and is writable.
    """
    uri = uri or resolve_tracking_uri(params)
    timeout = timeout if timeout is not None else (params.preflight_timeout_s if params else 3.0)
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        _preflight_http(uri, timeout)
    elif scheme == "sqlite" or scheme in ("", "file"):
        folder = _sqlite_path(uri)
        folder = folder.parent if folder is not None else Path(urlparse(uri).path if scheme == "file" else uri)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"MLflow store {uri}: cannot create {folder}: {exc.strerror}") from None
        if not os.access(folder, os.W_OK):
            raise TrackingError(f"MLflow store {uri}: {folder} is not writable")
    return uri


def _preflight_http(uri: str, timeout: float) -> None:
    """One request, as MLflow's own client makes it (``mlflow.utils.credentials.get_default_host_creds``): basic
    auth (``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD``), ``MLFLOW_TRACKING_TOKEN`` (a Bearer header),
    ``MLFLOW_TRACKING_SERVER_CERT_PATH`` (a private CA), ``MLFLOW_TRACKING_CLIENT_CERT_PATH`` and
    ``MLFLOW_TRACKING_INSECURE_TLS`` apply to it as to the logging after it, so a server MLflow can use is never
    refused here, nor one it cannot use let through."""
    import requests
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    shown = redact_uri(uri)
    creds = get_default_host_creds(uri.rstrip("/"))
    hint = ("start the server (or fix MLFLOW_TRACKING_URI / tracking.uri), or unset both to use the embedded "
            f"store {default_tracking_uri()}")

    def get(endpoint: str, **kwargs: Any) -> Any:
        return http_request(creds, endpoint, "GET", max_retries=0, backoff_factor=0, timeout=timeout,
                            raise_on_status=False, **kwargs)

    try:
        response = get("/health")
        if response.status_code == 404:  # behind a proxy without /health: ask the REST API itself
            response = get("/api/2.0/mlflow/experiments/search", params={"max_results": 1})
    except MlflowException as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.exceptions.SSLError):
            raise TrackingError(
                f"MLflow tracking server {shown}: TLS verification failed ({_ssl_reason(cause)}). For a server "
                "whose certificate a private CA signed, set MLFLOW_TRACKING_SERVER_CERT_PATH to that CA's "
                "certificate (PEM); a server that wants a client certificate, MLFLOW_TRACKING_CLIENT_CERT_PATH; "
                "MLFLOW_TRACKING_INSECURE_TLS=true skips the check (anyone on the path can then read the "
                "credentials)") from None
        reason = type(cause).__name__ if cause is not None else failure_reason(exc)
        raise TrackingError(f"MLflow tracking server {shown} cannot be reached within {timeout:g} s ({reason}): "
                            f"{hint}") from None
    if response.status_code in (401, 403):
        raise TrackingError(f"MLflow tracking server {shown} refused the credentials (HTTP {response.status_code}): "
                            "set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD")
    if response.status_code >= 400:
        raise TrackingError(f"MLflow tracking server {shown} answered HTTP {response.status_code}: {hint}")


def _ssl_reason(exc: BaseException) -> str:
    """The certificate error's own words (e.g. "self-signed certificate in certificate chain"), else its type."""
    text = str(exc)
    for marker in ("certificate verify failed: ", "SSLError("):
        if marker in text:
            return text.split(marker, 1)[1].split(" (_ssl")[0].rstrip(")'\"")
    return type(exc).__name__


# ---- failures while logging --------------------------------------------------------------------------
TRANSPORT_FAILURES = (("Connection refused", "cannot be reached (connection refused)"),
                      ("timed out", "cannot be reached (timed out)"),
                      ("RemoteDisconnected", "cannot be reached (connection dropped)"),
                      ("Connection aborted", "cannot be reached (connection dropped)"),
                      ("Connection reset", "cannot be reached (connection reset)"),
                      ("Connection broken", "cannot be reached (connection broken mid-answer)"),
                      ("IncompleteRead", "cannot be reached (connection broken mid-answer)"),
                      ("error responses", "kept answering with server errors (HTTP 5xx)"),
                      ("Max retries exceeded", "cannot be reached (no answer after retries)"))


def failure_reason(exc: BaseException) -> str:
    """One line for a user: e.g. "cannot be reached (connection refused)" for transport failures, else the
    exception's first line (MLflow wraps connection errors in a paragraph with the whole URL)."""
    text = str(exc)
    for needle, reason in TRANSPORT_FAILURES:
        if needle in text:
            return reason
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


@contextmanager
def guard(uri: str, what: str) -> Iterator[None]:
    """Turn a store failure while ``what`` (e.g. "logging variant staged") into a ``TrackingError`` naming the
    URI, so the step fails with exit code 2 and a sentence instead of a traceback after minutes of retries."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, requests.exceptions.RequestException) as exc:
        raise TrackingError(f"MLflow tracking store {uri} failed while {what}: {failure_reason(exc)}. Bring the "
                            "store back and re-run this step: its runs are replaced, not duplicated.") from None


# ---- the client --------------------------------------------------------------------------------------
@dataclass
class Tracker:
    """A client bound to one store and experiment."""

    uri: str
    experiment_id: str
    client: Any

    @classmethod
    def open(cls, params: TrackingParams | None = None, uri: str | None = None) -> Tracker:
        import mlflow
        from mlflow import MlflowClient

        params = params or TrackingParams()
        uri = uri or resolve_tracking_uri(params)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)  # mlflow.register_model and log_model use these, not this client's
        artifacts = local_artifact_root(uri)
        if artifacts is not None:  # the embedded store: tell later registrations where artifacts live
            artifacts.mkdir(parents=True, exist_ok=True)
        with guard(uri, f"opening the experiment {params.experiment!r}"), store_lock(uri, "store"):
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # reaches the store (a fresh one: migrates)
            return cls(uri, ensure_experiment(client, params.experiment, artifacts), client)

    # -- batches: MlflowClient.log_batch splits them to the server's limits (1000 metrics, 100 params/tags)
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])

    def log_metrics(self, run_id: str, metrics: Iterable[tuple[str, float, int]]) -> int:
        """Log the finite ones (one timestamp for the batch); returns how many were logged."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(metric_key(key), float(value), now, int(step)) for key, value, step in metrics if numeric(value)]
        self.client.log_batch(run_id, metrics=batch)
        return len(batch)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    # -- runs
    def create_run(self, name: str, tags: Mapping[str, Any], parent: str | None = None) -> str:
        tags = {k: str(v) for k, v in tags.items()}
        if parent:
            tags[PARENT_TAG] = parent
        return self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id

    def search(self, filter_string: str, order_by: list[str] | None = None) -> list[Any]:
        return list(self.client.search_runs([self.experiment_id], filter_string=filter_string,
                                            order_by=order_by or ["attributes.start_time ASC"], max_results=1000))

    def children(self, run_id: str, extra: str = "") -> list[Any]:
        """The active runs whose parent is ``run_id`` (deleted ones are in the trash, not here)."""
        clause = f"tags.`{PARENT_TAG}` = '{run_id}'" + (f" and {extra}" if extra else "")
        return self.search(clause)

    def delete_tree(self, run_id: str) -> None:
        for child in self.children(run_id):
            self.delete_tree(child.info.run_id)
        self.client.delete_run(run_id)


@contextmanager
def store_lock(uri: str, purpose: str) -> Iterator[None]:
    """For the embedded SQLite store, one process at a time in the block: an ``flock`` on
    ``.mtst-<purpose>.lock`` in the artifact folder beside the database (the kernel drops it if its holder dies).
    ``store``: the first client's connection creates and migrates the schema of a fresh database, and two
    processes doing that at once (two kfp tasks, ``kfp run-local --parallelism 2``) fail one of them (its migration
    meets the other's half-made schema); so ``Tracker.open`` holds it while the first client reaches the store. Other stores migrate
    server-side (``mlflow server``, ``mlflow db upgrade``): no lock. It waits for the holder (unlike
    ``mtst.locking``'s folder locks, which refuse at once); opened without following a symlink and never
    truncated: the lock file holds nothing."""
    import fcntl

    folder = local_artifact_root(uri)
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # (NONBLOCK: a FIFO never hangs)
    fd = os.open(folder / f".mtst-{purpose}.lock", flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_experiment(client: Any, name: str, artifact_root: Path | None = None) -> str:
    """Get or create the experiment (the embedded store puts its artifacts under ``<repo>/mlartifacts``), with
    the tags that open the MLflow UI on its training runs (``mtst.tracking.view``); an experiment created
    before those tags existed gets them here."""
    from mlflow.exceptions import MlflowException

    from mtst.tracking.view import missing_tags

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            location = (artifact_root / name).as_uri() if artifact_root is not None else None
            experiment_id = client.create_experiment(name, artifact_location=location, tags={
                **missing_tags({}),
                "mlflow.note.content": "mtst freeze variants: one parent run per pipeline run, one child per variant.",
            })
            return str(experiment_id)
        except MlflowException:  # created meanwhile by a parallel step
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    for key, value in missing_tags(experiment.tags).items():
        client.set_experiment_tag(experiment.experiment_id, key, value)
    return str(experiment.experiment_id)
