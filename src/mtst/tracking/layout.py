"""The run layout of a pipeline run: the parent run that every step of one pipeline run finds (or creates),
the identity of a variant's child run under it, and the tags that say which code and data a run used.

Separate processes (DVC stages, kfp tasks) find the same parent: ``MTST_PIPELINE_RUN_ID`` if set, else the open
parent tagged with this pipeline id (``$MTST_PIPELINE_ID``, or git commit + data hash + params hash), else a new
one; two processes racing to create it both keep the oldest. A variant's child run is identified by its parent
and its ``mtst.variant`` tag, so a re-run replaces it (see ``mtst.tracking`` for the whole picture).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mtst.evaluation.errors import TrackingError
from mtst.evaluation.flatten import flatten
from mtst.redaction import redact_params
from mtst.run_tags import DATA_HASH, GIT_COMMIT, PIPELINE_ID, RECIPE, ROLE, STAGE, TEST_DATA_HASH, VARIANT
from mtst.tracking.store import Tracker, guard, local_artifact_root, project_root
from mtst.tracking.values import numeric, param_items

ENV_RUN_ID, ENV_PIPELINE_ID = "MTST_PIPELINE_RUN_ID", "MTST_PIPELINE_ID"


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
    """The code and data every run of this pipeline used."""
    commit = git_commit(root)
    return {GIT_COMMIT: commit, "mlflow.source.git.commit": commit, DATA_HASH: data_hash(root)}


# ---- the parent run ----------------------------------------------------------------------------------
def pipeline_run(tracker: Tracker, pipeline_params: Mapping[str, Any] | None = None,
                 validation_dir: str | Path | None = None, root: str | Path | None = None) -> str:
    """The parent run id: ``$MTST_PIPELINE_RUN_ID``, else the open parent of this pipeline id, else a new one.
    The validation report is logged on it once (the first step that has it)."""
    with guard(tracker.uri, "finding the pipeline's parent run"):
        run_id = _explicit_parent(tracker) if os.environ.get(ENV_RUN_ID) else \
            _find_or_create_parent(tracker, pipeline_params, root)
    if validation_dir:
        with guard(tracker.uri, f"logging the validation report on the parent run {run_id}"):
            log_validation(tracker, run_id, validation_dir)
    return run_id


def _explicit_parent(tracker: Tracker) -> str:
    explicit = os.environ[ENV_RUN_ID]
    try:
        tracker.client.get_run(explicit)
    except Exception as exc:  # noqa: BLE001 - MlflowException and transport errors alike
        raise TrackingError(f"{ENV_RUN_ID}={explicit}: no such run in {tracker.uri} ({exc})") from None
    return explicit


def _find_or_create_parent(tracker: Tracker, pipeline_params: Mapping[str, Any] | None,
                           root: str | Path | None) -> str:
    key = pipeline_id(pipeline_params, root)
    clause = f"tags.`{ROLE}` = 'pipeline' and tags.`{PIPELINE_ID}` = '{key}' and attributes.status = 'RUNNING'"
    with _creation_lock(tracker.uri):
        found = tracker.search(clause)
        if found:
            run_id = found[0].info.run_id
            if pipeline_params and not found[0].data.params:  # its creator was cut off before logging them
                tracker.log_params(run_id, param_items(redact_params(pipeline_params)))
            return run_id
        name = time.strftime("pipeline-%Y%m%d-%H%M%S")
        mine = tracker.create_run(name, {ROLE: "pipeline", PIPELINE_ID: key, **common_tags(root)})
        found = tracker.search(clause, ["attributes.start_time ASC", "attributes.run_id ASC"])
        run_id = found[0].info.run_id if found else mine
        if run_id != mine:  # another process (on another machine) won the race: keep the oldest
            tracker.client.delete_run(mine)
        elif pipeline_params:
            tracker.log_params(run_id, param_items(redact_params(pipeline_params)))
        return run_id


@contextmanager
def _creation_lock(uri: str) -> Iterator[None]:
    """For the embedded store, one process at a time finds-or-creates the parent run (an ``flock`` in the
    artifact folder; the kernel drops it if its holder dies). Without it, "keep the oldest" can fail under load:
    a slow process's run may commit after a faster one already searched and kept its own. Other stores rely on
    keeping the oldest alone."""
    import fcntl

    folder = local_artifact_root(uri)
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".mtst-pipeline-run.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def log_validation(tracker: Tracker, run_id: str, validation_dir: str | Path) -> bool:
    """The validation summary and GX Data Docs, once per parent run (tag ``mtst.validation_logged``)."""
    validation_dir = Path(validation_dir)
    run = tracker.client.get_run(run_id)
    if run.data.tags.get("mtst.validation_logged") == "true" or not validation_dir.is_dir():
        return False
    tracker.client.log_artifacts(run_id, str(validation_dir), "validation")
    for name in ("summary.json", "report.json", "validation.json"):
        path = validation_dir / name
        if path.exists():
            try:
                values = flatten(json.loads(path.read_text(encoding="utf-8")), "validation")
            except (ValueError, AttributeError):
                continue
            tracker.log_metrics(run_id, ((k, v, 0) for k, v in values.items() if numeric(v)))
            if isinstance(values.get("validation.success"), bool):
                tracker.set_tags(run_id, {"mtst.validation_success": str(values["validation.success"]).lower()})
            break
    tracker.set_tags(run_id, {"mtst.validation_logged": "true"})
    return True


# ---- a variant's child run ---------------------------------------------------------------------------
def variant_runs(tracker: Tracker, parent_id: str, variant: str) -> list[Any]:
    """The child runs that are ``variant`` of the pipeline run ``parent_id`` (its identity: parent + tags)."""
    return tracker.children(parent_id, f"tags.`{VARIANT}` = '{variant}' and tags.`{ROLE}` = 'variant'")


def drop_variant_runs(tracker: Tracker, parent_id: str, variant: str) -> None:
    """Delete earlier (complete or half-logged) child runs of ``variant`` with their stage runs, so a re-run
    leaves exactly one (MLflow keeps the deleted ones in the trash)."""
    for old in variant_runs(tracker, parent_id, variant):
        tracker.delete_tree(old.info.run_id)
