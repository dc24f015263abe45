"""The run layout of a pipeline run: the parent run that every step of one pipeline run finds (or creates),
the identity of a variant's child run under it, and the tags that say which code and data a run used.

Separate processes (DVC stages, kfp tasks) find the same parent by the pipeline run's identity, which the step
is given (``pipeline_id``: the CLI's ``--pipeline-id``, a kfp task's ``kfp-<run id>``) or, by default, git
commit + data hash + params hash + the checkout's own id: the open parent tagged with that identity, else a new
one; two processes racing to create it both keep the oldest. The checkout's id is why two checkouts of the same
commit, data and params logging to one server get a parent each: with one shared parent, the second checkout's
``evaluate`` replaced (deleted) the first one's child runs. A variant's child run is identified by its parent
and its ``mtst.variant`` tag, so a re-run replaces it, and only a run of the same pipeline run replaces it (see
``mtst.tracking`` for the whole picture).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtst.dag import LAYOUT
from mtst.redaction import redact_params
from mtst.run_tags import DATA_HASH, GIT_COMMIT, PIPELINE_ID, ROLE, VARIANT
from mtst.tracking.errors import TrackingError
from mtst.tracking.store import Tracker, guard, project_root, store_lock
from mtst.tracking.values import param_items

CHECKOUT_ID = Path(LAYOUT.train_root).parent / ".mtst-checkout-id"
"""The checkout's own id, relative to its root: in its (git-ignored) artifacts folder, minted by the first step
that needs it (``checkout_id``)."""
CHECKOUT_ID_PATTERN = re.compile(r"[0-9a-f]{32}")


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


def checkout_id(root: str | Path | None = None) -> str:
    """This checkout's id (``CHECKOUT_ID``): read, or minted at random and published with one atomic link, so
    steps racing to mint it all read the first one's. A checkout copied with its artifacts keeps the id, as
    it keeps its outputs; ``make clean`` removes it, so the next run opens a parent of its own."""
    path = Path(root or project_root()) / CHECKOUT_ID
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            draft.write_text(secrets.token_hex(16) + "\n", encoding="ascii")
            try:
                os.link(draft, path)  # never replaces one another step minted meanwhile
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError as exc:
        raise TrackingError(f"cannot keep this checkout's pipeline identity in {path}: {exc.strerror or exc}; give "
                            "the pipeline run an identity with --pipeline-id (or MTST_PIPELINE_ID)") from None
    if not CHECKOUT_ID_PATTERN.fullmatch(text):
        raise TrackingError(f"{path}: the checkout's id must be 32 lower-case hex digits, found {text[:40]!r}; "
                            "delete the file to mint a new one")
    return text


def default_pipeline_id(pipeline_params: Mapping[str, Any] | None = None, root: str | Path | None = None) -> str:
    """``<git commit>-<data md5>-<params sha256>-<checkout id>`` (12 characters each): every step of one
    ``dvc repro`` over the same code, data and parameters lands in the same parent run without being told its
    identity, and another checkout of the same commit, data and params (another clone, CI job or machine
    logging to the same server) in a parent of its own, so neither replaces the other's runs."""
    return (f"{git_commit(root)[:12]}-{data_hash(root)[:12]}-{params_hash(pipeline_params, root)[:12]}-"
            f"{checkout_id(root)[:12]}")


def common_tags(root: str | Path | None = None) -> dict[str, str]:
    """The code and data every run of this pipeline used."""
    commit = git_commit(root)
    return {GIT_COMMIT: commit, "mlflow.source.git.commit": commit, DATA_HASH: data_hash(root)}


# ---- the parent run ----------------------------------------------------------------------------------
def pipeline_run(tracker: Tracker, pipeline_params: Mapping[str, Any] | None = None, *,
                 pipeline_id: str | None = None, root: str | Path | None = None) -> str:
    """The parent run id: the open parent run tagged with ``pipeline_id`` (None: ``default_pipeline_id``),
    else a new one carrying ``pipeline_params``."""
    key = pipeline_id or default_pipeline_id(pipeline_params, root)
    with guard(tracker.uri, "finding the pipeline's parent run"):
        return _find_or_create_parent(tracker, key, pipeline_params, root)


def _find_or_create_parent(tracker: Tracker, key: str, pipeline_params: Mapping[str, Any] | None,
                           root: str | Path | None) -> str:
    clause = f"tags.`{ROLE}` = 'pipeline' and tags.`{PIPELINE_ID}` = '{key}' and attributes.status = 'RUNNING'"
    # The embedded store: one process at a time. Without it "keep the oldest" can fail under load: a slow
    # process's run may commit after a faster one already searched and kept its own. Other stores rely on
    # keeping the oldest alone.
    with store_lock(tracker.uri, "pipeline-run"):
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


# ---- a variant's child run ---------------------------------------------------------------------------
def variant_runs(tracker: Tracker, parent_id: str, variant: str) -> list[Any]:
    """The child runs that are ``variant`` of the pipeline run ``parent_id`` (its identity: parent + tags)."""
    return tracker.children(parent_id, f"tags.`{VARIANT}` = '{variant}' and tags.`{ROLE}` = 'variant'")


def drop_variant_runs(tracker: Tracker, parent_id: str, variant: str) -> None:
    """Delete earlier (complete or half-logged) child runs of ``variant`` with their stage runs, so a re-run
    leaves exactly one (MLflow keeps the deleted ones in the trash). Only children of ``parent_id``: what this
    pipeline run's own steps logged; another pipeline run's (another checkout's) are under a parent of its own."""
    for old in variant_runs(tracker, parent_id, variant):
        tracker.delete_tree(old.info.run_id)
