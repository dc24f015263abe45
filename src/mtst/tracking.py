"""MLflow tracking: store resolution, a fast preflight, and the run layout of a pipeline run.

Store: ``$MLFLOW_TRACKING_URI`` if set, else ``tracking.uri`` from params.yaml, else the embedded store
``sqlite:///<repo>/mlflow.db`` with artifacts in ``<repo>/mlartifacts`` (``<repo>``: the nearest folder
upwards from the working directory that holds ``params.yaml``). ``make ui`` / ``mtst ui`` serve that store.

Run layout in the experiment (``tracking.experiment``, default ``mtst``)::

    pipeline-<time>                      one parent run per pipeline run (tags mtst.role=pipeline, mtst.pipeline_id)
      ├── <variant>                      one child per freeze variant: params, per-step curves, test metrics,
      │     ├── <variant>:<stage>        plots, the pyfunc model (mtst.role=variant, mtst.variant)
      │     └── ...                      one nested run per training stage (mtst.role=stage, mtst.stage)
      └── ...                            the parent holds the validation summary + Data Docs and the comparison

DVC stages and kfp tasks are separate processes, so they find the parent run like this:

1. ``MTST_PIPELINE_RUN_ID`` names the parent run explicitly (a kfp task or a user may set it);
2. else the *open* (status RUNNING) parent run tagged ``mtst.pipeline_id = <id>`` is reused, where ``<id>``
   is ``$MTST_PIPELINE_ID`` (e.g. the kfp job id) or, by default, git commit + data hash + params hash, so
   every stage of one ``dvc repro`` over the same code, data and parameters lands in the same parent;
3. else a new parent is created. Two processes racing to create one both keep the oldest.

``mtst compare`` finishes the parent run (status FINISHED); the next pipeline run opens a new one.

Re-running a step is idempotent: a child run is identified by its parent run + ``mtst.variant`` (tags), and
an evaluation that is re-run replaces its variant's child run and the stage runs under it (the old ones,
complete or left half-logged by a crash, are deleted; MLflow keeps them recoverable in the trash). So after
a tracking server is lost in the middle of a pipeline, re-running once it is back leaves exactly one child
per variant under the same parent (still open: only ``compare`` finishes it).

A store that fails while a step logs (server gone, refused, timing out) raises ``TrackingError`` naming the
URI and what was being logged, so the CLI stops with exit code 2 and no traceback. HTTP calls are retried
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times (default here 3, backoff factor 1: about 7 s in all, instead of
MLflow's own minutes); both environment variables override this.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mtst.redaction import redact_params, redact_uri
from mtst.config import TrackingParams
from mtst.evaluation.errors import TrackingError
from mtst.evaluation.flatten import flatten

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# a lost server fails the step in seconds, not after MLflow's default 7 retries with exponential backoff
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")

ROLE, VARIANT, STAGE, PIPELINE_ID = "mtst.role", "mtst.variant", "mtst.stage", "mtst.pipeline_id"
GIT_COMMIT, DATA_HASH = "mtst.git_commit", "mtst.data_hash"
PARENT_TAG = "mlflow.parentRunId"
ENV_RUN_ID, ENV_PIPELINE_ID = "MTST_PIPELINE_RUN_ID", "MTST_PIPELINE_ID"
MAX_PARAM_LEN = 6000


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
    """For a local store (SQLite file or folder): the artifact folder beside it (``mlartifacts``)."""
    db = _sqlite_path(uri)
    if db is not None:
        return db.parent / "mlartifacts"
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return None  # a file store keeps artifacts inside its own folder
    return None


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
    import requests

    base = uri.rstrip("/")
    hint = ("start the server (or fix MLFLOW_TRACKING_URI / tracking.uri), or unset both to use the embedded "
            f"store {default_tracking_uri()}")
    try:
        response = requests.get(f"{base}/health", timeout=(timeout, timeout))
        if response.status_code == 404:  # behind a proxy without /health: ask the REST API itself
            response = requests.get(f"{base}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                                    timeout=(timeout, timeout), auth=_auth())
    except requests.exceptions.RequestException as exc:
        reason = type(exc).__name__
        raise TrackingError(f"MLflow tracking server {uri} cannot be reached within {timeout:g} s ({reason}): "
                            f"{hint}") from None
    if response.status_code in (401, 403):
        raise TrackingError(f"MLflow tracking server {uri} refused the credentials (HTTP {response.status_code}): "
                            "set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD")
    if response.status_code >= 400:
        raise TrackingError(f"MLflow tracking server {uri} answered HTTP {response.status_code}: {hint}")


def _auth() -> Any:
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    return (user, password) if user and password else None


# ---- failures while logging --------------------------------------------------------------------------
TRANSPORT_FAILURES = (("Connection refused", "cannot be reached (connection refused)"),
                      ("timed out", "cannot be reached (timed out)"),
                      ("RemoteDisconnected", "cannot be reached (connection dropped)"),
                      ("Connection aborted", "cannot be reached (connection dropped)"),
                      ("Connection reset", "cannot be reached (connection reset)"),
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


# ---- facts about this pipeline run -------------------------------------------------------------------
def git_commit(root: str | Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or project_root(), capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def data_hash(root: str | Path | None = None) -> str:
    """The md5 that ``data.dvc`` records for data/ (what DVC knows the datasets by)."""
    import yaml

    path = Path(root or project_root()) / "data.dvc"
    try:
        outs = yaml.safe_load(path.read_text(encoding="utf-8")).get("outs") or []
        return str(outs[0].get("md5", "unknown")) if outs else "unknown"
    except (OSError, AttributeError, yaml.YAMLError):
        return "unknown"


def params_hash(pipeline_params: Mapping[str, Any] | None = None, root: str | Path | None = None) -> str:
    if pipeline_params is not None:
        blob = json.dumps(pipeline_params, sort_keys=True, default=str).encode()
    else:
        path = Path(root or project_root()) / "params.yaml"
        blob = path.read_bytes() if path.exists() else b""
    return hashlib.sha256(blob).hexdigest()


def pipeline_id(pipeline_params: Mapping[str, Any] | None = None, root: str | Path | None = None) -> str:
    """``$MTST_PIPELINE_ID``, else ``<git commit>-<data md5>-<params sha256>`` (12 characters each)."""
    explicit = os.environ.get(ENV_PIPELINE_ID)
    if explicit:
        return explicit
    return f"{git_commit(root)[:12]}-{data_hash(root)[:12]}-{params_hash(pipeline_params, root)[:12]}"


def common_tags(root: str | Path | None = None) -> dict[str, str]:
    commit = git_commit(root)
    return {GIT_COMMIT: commit, "mlflow.source.git.commit": commit, DATA_HASH: data_hash(root)}


# ---- values MLflow accepts ---------------------------------------------------------------------------
def metric_key(key: str) -> str:
    """MLflow keys allow letters, digits and ``_ - . / :`` and spaces; anything else becomes ``_``."""
    return "".join(c if c.isalnum() or c in "_-./: " else "_" for c in key)


def param_items(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested params to ``a.b.c`` keys with string values (lists as JSON), as MLflow stores them."""
    out = {}
    for key, value in flatten(params, prefix).items():
        text = json.dumps(value, sort_keys=True) if isinstance(value, (list, tuple, dict)) else str(value)
        out[metric_key(key)] = text[:MAX_PARAM_LEN]
    return out


def numeric(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


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
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        with guard(uri, f"opening the experiment {params.experiment!r}"):
            return cls(uri, ensure_experiment(client, params.experiment, artifacts), client)

    # -- batches: MLflow takes at most 1000 metrics, 100 params, 100 tags per call
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start:start + 100])

    def log_metrics(self, run_id: str, metrics: Iterable[tuple[str, float, int]]) -> int:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch, count = [], 0
        for key, value, step in metrics:
            if not numeric(value):
                continue
            batch.append(Metric(metric_key(key), float(value), now, int(step)))
            if len(batch) == 1000:
                self.client.log_batch(run_id, metrics=batch)
                count += len(batch)
                batch = []
        if batch:
            self.client.log_batch(run_id, metrics=batch)
            count += len(batch)
        return count

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)) for k, v in tags.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, tags=items[start:start + 100])

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

    # -- the parent run of this pipeline run
    def pipeline_run(self, pipeline_params: Mapping[str, Any] | None = None, validation_dir: str | Path | None = None,
                     root: str | Path | None = None) -> str:
        """The parent run id: ``$MTST_PIPELINE_RUN_ID``, else the open parent of this pipeline id, else a new one."""
        with guard(self.uri, "finding the pipeline's parent run"):
            run_id = self._pipeline_run(pipeline_params, root)
        if validation_dir:
            with guard(self.uri, f"logging the validation report on the parent run {run_id}"):
                self.log_validation(run_id, validation_dir)
        return run_id

    def _pipeline_run(self, pipeline_params: Mapping[str, Any] | None, root: str | Path | None) -> str:
        explicit = os.environ.get(ENV_RUN_ID)
        if explicit:
            try:
                self.client.get_run(explicit)
            except Exception as exc:  # noqa: BLE001 - MlflowException and transport errors alike
                raise TrackingError(f"{ENV_RUN_ID}={explicit}: no such run in {self.uri} ({exc})") from None
            run_id = explicit
        else:
            key = pipeline_id(pipeline_params, root)
            clause = f"tags.`{ROLE}` = 'pipeline' and tags.`{PIPELINE_ID}` = '{key}' and attributes.status = 'RUNNING'"
            with self._creation_lock():
                found = self.search(clause)
                if found:
                    run_id = found[0].info.run_id
                    if pipeline_params and not found[0].data.params:  # its creator was cut off before logging them
                        self.log_params(run_id, param_items(redact_params(pipeline_params)))
                else:
                    name = time.strftime("pipeline-%Y%m%d-%H%M%S")
                    mine = self.create_run(name, {ROLE: "pipeline", PIPELINE_ID: key, **common_tags(root)})
                    found = self.search(clause, ["attributes.start_time ASC", "attributes.run_id ASC"])
                    run_id = found[0].info.run_id if found else mine
                    if run_id != mine:  # another process (on another machine) won the race: keep the oldest
                        self.client.delete_run(mine)
                    elif pipeline_params:
                        self.log_params(run_id, param_items(redact_params(pipeline_params)))
        return run_id

    @contextmanager
    def _creation_lock(self) -> Iterator[None]:
        """For a local store, one process at a time finds-or-creates the parent run (an ``flock`` in the artifact
        folder; the kernel drops it if its holder dies). Without it, "keep the oldest" can fail under load: a
        slow process's run may commit after a faster one already searched and kept its own. Remote stores rely
        on keeping the oldest alone."""
        import fcntl

        folder = local_artifact_root(self.uri)
        if folder is None:
            yield
            return
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".mtst-pipeline-run.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def log_validation(self, run_id: str, validation_dir: str | Path) -> bool:
        """The validation summary and GX Data Docs, once per parent run."""
        validation_dir = Path(validation_dir)
        run = self.client.get_run(run_id)
        if run.data.tags.get("mtst.validation_logged") == "true" or not validation_dir.is_dir():
            return False
        self.client.log_artifacts(run_id, str(validation_dir), "validation")
        for name in ("summary.json", "report.json", "validation.json"):
            path = validation_dir / name
            if path.exists():
                try:
                    values = flatten(json.loads(path.read_text(encoding="utf-8")), "validation")
                except (ValueError, AttributeError):
                    continue
                self.log_metrics(run_id, ((k, v, 0) for k, v in values.items() if numeric(v)))
                if isinstance(values.get("validation.success"), bool):
                    self.set_tags(run_id, {"mtst.validation_success": str(values["validation.success"]).lower()})
                break
        self.set_tags(run_id, {"mtst.validation_logged": "true"})
        return True


def ensure_experiment(client: Any, name: str, artifact_root: Path | None = None) -> str:
    """Get or create the experiment (the embedded store puts its artifacts under ``<repo>/mlartifacts``)."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            location = (artifact_root / name).as_uri() if artifact_root is not None else None
            experiment_id = client.create_experiment(name, artifact_location=location, tags={
                "mlflow.experimentKind": "custom_model_development",  # the UI opens on the training-runs table
                "mlflow.note.content": "mtst freeze variants: one parent run per pipeline run, one child per variant.",
            })
            return str(experiment_id)
        except MlflowException:  # created meanwhile by a parallel step
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


# ---- one freeze variant ------------------------------------------------------------------------------
def read_history(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


HISTORY_SKIP = {"step", "stage"}


def history_metrics(history: Iterable[Mapping[str, Any]]) -> Iterable[tuple[str, float, int]]:
    for record in history:
        step = int(record["step"])
        for key, value in record.items():
            if key not in HISTORY_SKIP and numeric(value):
                yield key, float(value), step


def log_variant(tracker: Tracker, parent_id: str, train_dir: str | Path, eval_dir: str | Path,
                metrics: Mapping[str, Any], params: TrackingParams, extra_params: Mapping[str, Any] | None = None,
                example_texts: list[str] | None = None, model: Any = None, root: str | Path | None = None) -> dict[str, Any]:
    """The variant's child run (replacing an earlier one under the same parent) with one nested run per stage.

    Child: params (the variant's effective training config, flattened, plus ``extra_params``), per-step
    curves from history.jsonl, ``stage_index`` at stage boundaries, the test metrics, plots, the training and
    evaluation records as artifacts, and the model as a pyfunc. Stage runs: the stage's params and curves.
    A store failure on the way raises ``TrackingError``; the re-run replaces the half-logged child.
    """
    train_dir = Path(train_dir)
    summary = json.loads((train_dir / "train_summary.json").read_text(encoding="utf-8"))
    variant = str(summary.get("variant") or train_dir.name)
    with guard(tracker.uri, f"logging variant {variant!r} (child of pipeline run {parent_id})"):
        return _log_variant(tracker, parent_id, variant, summary, train_dir, Path(eval_dir), metrics, params,
                            extra_params, example_texts, model, root)


def variant_runs(tracker: Tracker, parent_id: str, variant: str) -> list[Any]:
    """The child runs that are ``variant`` of the pipeline run ``parent_id`` (its identity: parent + tags)."""
    return tracker.children(parent_id, f"tags.`{VARIANT}` = '{variant}' and tags.`{ROLE}` = 'variant'")


def _log_variant(tracker: Tracker, parent_id: str, variant: str, summary: Mapping[str, Any], train_dir: Path,
                 eval_dir: Path, metrics: Mapping[str, Any], params: TrackingParams,
                 extra_params: Mapping[str, Any] | None, example_texts: list[str] | None, model: Any,
                 root: str | Path | None) -> dict[str, Any]:
    import mlflow

    stages = json.loads((train_dir / "stages.json").read_text(encoding="utf-8")) if (train_dir / "stages.json").exists() else []
    history = read_history(train_dir / "history.jsonl")

    for old in variant_runs(tracker, parent_id, variant):  # an earlier (or half-logged) run of this variant
        tracker.delete_tree(old.info.run_id)

    base_tags = {VARIANT: variant, **common_tags(root)}
    stage_names = [str(s.get("name")) for s in stages]
    run_id = tracker.create_run(variant, {**base_tags, ROLE: "variant", "mtst.stages": ",".join(stage_names),
                                          STAGE: "evaluate", "mtst.tasks": ",".join(summary.get("tasks", [])),
                                          "mtst.augmented": str(bool(summary.get("augmented", False))).lower(),
                                          "mlflow.note.content": str(summary.get("description", ""))}, parent=parent_id)
    # the variant's effective config as the trainer recorded it (model.*, train.*, variant.stages.0.lr_head, ...)
    run_params = {"variant_name": variant, "seed": summary.get("seed"), "augmented": summary.get("augmented"),
                  "tasks": summary.get("tasks"), **(summary.get("params") or {}), **(extra_params or {})}
    tracker.log_params(run_id, param_items({k: v for k, v in run_params.items() if v is not None}))

    last_step = max((int(r["step"]) for r in history), default=int(summary.get("steps", 0) or 0))
    counts = {"history": 0}
    if params.log_step_metrics and history:
        counts["history"] = tracker.log_metrics(run_id, history_metrics(history))
    boundaries = []  # stage_index at each stage's first and last step (unless history.jsonl has it per step)
    for index, stage in enumerate(stages if not any("stage_index" in r for r in history) else []):
        for key in ("start_step", "end_step"):
            if numeric(stage.get(key)):
                boundaries.append(("stage_index", float(index), int(stage[key])))
    tracker.log_metrics(run_id, boundaries)
    final = [(f"test.{k}", v, last_step) for k, v in metrics.items() if numeric(v)]
    final += [(f"train.{k}", v, last_step) for k in ("wall_s", "steps") if numeric(v := summary.get(k))]
    final += [(f"val.{k}", v, last_step) for k, v in flatten(summary.get("validation") or {}).items() if numeric(v)]
    tracker.log_metrics(run_id, final)

    # one nested run per training stage, its records picked by the history's "stage" field
    stage_runs = {}
    for index, stage in enumerate(stages):
        name = str(stage.get("name", index))
        stage_id = tracker.create_run(f"{variant}:{name}", {**base_tags, ROLE: "stage", STAGE: name,
                                                            "mtst.stage_index": index}, parent=run_id)
        tracker.log_params(stage_id, param_items({"stage": name, "index": index, **(stage.get("params") or {})}))
        records = [r for r in history if str(r.get("stage")) == name]
        stage_metrics = [(k, float(stage[k]), int(stage.get("end_step") or 0))
                         for k in ("wall_s", "start_step", "end_step") if numeric(stage.get(k))]
        stage_metrics.append(("steps", float(len(records)), int(stage.get("end_step") or 0)))
        if params.log_step_metrics:
            stage_metrics.extend(history_metrics(records))
        tracker.log_metrics(stage_id, stage_metrics)
        tracker.client.set_terminated(stage_id, "FINISHED")
        stage_runs[name] = stage_id

    for name in ("train_summary.json", "stages.json", "history.jsonl"):
        if (train_dir / name).exists():
            tracker.client.log_artifact(run_id, str(train_dir / name), "training")
    for name in ("metrics.json", "report.json", "variant.json"):
        if (eval_dir / name).exists():
            tracker.client.log_artifact(run_id, str(eval_dir / name), "evaluation")
    if (eval_dir / "plots").is_dir():
        tracker.client.log_artifacts(run_id, str(eval_dir / "plots"), "plots")

    model_uri = None
    if params.log_model and model is not None:
        from mtst.serving import log_pyfunc

        with mlflow.start_run(run_id=run_id):
            info = log_pyfunc(train_dir / "model", model, example_texts or ["An example sentence."])
            model_uri = info.model_uri
        tracker.set_tags(run_id, {"mtst.model_uri": model_uri})
    tracker.client.set_terminated(run_id, "FINISHED")
    return {"tracking_uri": redact_uri(tracker.uri), "experiment_id": tracker.experiment_id, "parent_run_id": parent_id,
            "run_id": run_id, "stage_run_ids": stage_runs, "model_uri": model_uri, "variant": variant,
            "history_metrics": counts["history"]}


def ui_command(params: TrackingParams | None = None, host: str = "127.0.0.1", port: int = 5000) -> tuple[list[str], dict[str, str]]:
    """``mlflow server`` (the UI) over the project's store: argv and environment."""
    import sys

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
