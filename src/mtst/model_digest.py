"""A registered model runs only what was registered: the digest of its artifact tree, recorded at registration
and checked before every load.

Why: loading an MLflow pyfunc executes code stored beside the model (the ``python_model`` file, the ``mtst``
package under ``code/``), and those files live in the run's artifact store, which every pipeline step and
whoever can write the runs can change; a run's ``mtst.model_uri.*`` tag says which model ``compare`` registers.
So ``mtst compare`` records the digest of a version's files as the version's tag ``mtst.model_digest``
(:func:`record`), and every load of a registered version (``mtst predict``, ``mtst.serving.load_registered``)
downloads the tree into a local folder, hashes it, refuses a mismatch or a version that records no digest, and
loads that very folder: nothing is downloaded again after the check (:func:`fetch_verified`). What must be
trusted is the model registry (versions, aliases, their tags); write access to runs and artifacts alone no longer
changes what runs.

The digest (:func:`tree_digest`): sha256 over one line per file, in the order of the files' relative paths,
``<relative/path>\\0<sha256 of the file>\\n``, written ``sha256:<hex>``. The file MLflow's client writes into
every downloaded registered model (``registered_model_meta``: the name and version it asked for) is removed
before hashing and loading: it is not the store's, and no stored file of that name reaches the model.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from mtst.export.errors import ModelNotFoundError
from mtst.run_tags import MODEL_DIGEST

PREFIX = "sha256:"
CHUNK = 1 << 20
CLIENT_META = "registered_model_meta"  # mlflow.store.artifact.models_artifact_repo.REGISTERED_MODEL_META_FILE_NAME


class ModelDigestError(ModelNotFoundError):
    """A registered model whose files are not the ones registered, or that records no digest: not loaded."""


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(root: str | Path) -> str:
    """``sha256:<hex>`` of every file under ``root`` (see the module docstring). A link anywhere is refused: a
    downloaded model holds none, and one would let the hashed bytes differ from what is loaded."""
    root = Path(root)
    files: list[tuple[str, Path]] = []
    for folder, dirs, names in os.walk(root):
        for name in (*dirs, *names):
            if Path(folder, name).is_symlink():
                raise ModelDigestError(f"model files {root}: {Path(folder, name)} is a link")
        files += [(Path(folder, n).relative_to(root).as_posix(), Path(folder, n)) for n in names]
    digest = hashlib.sha256()
    for relative, path in sorted(files):
        digest.update(relative.encode() + b"\0" + _file_sha256(path).encode() + b"\n")
    return PREFIX + digest.hexdigest()


def download_tree(name: str, version: str, dst: Path, store: str) -> Path:
    """The files of registered model ``name`` version ``version`` of the store ``store`` (its tracking and
    registry URI), downloaded into the folder ``dst``."""
    import mlflow

    path = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dst),
                                                    tracking_uri=store, registry_uri=store))
    (path / CLIENT_META).unlink(missing_ok=True)
    return path


def record(client: Any, name: str, version: str) -> str:
    """Hash the files of the registered version as the store holds them now and tag the version with it."""
    with tempfile.TemporaryDirectory(prefix="mtst-digest-") as tmp:
        digest = tree_digest(download_tree(name, version, Path(tmp), client.tracking_uri))
    client.set_model_version_tag(name, version, MODEL_DIGEST, digest)
    return digest


def fetch_verified(name: str, version: str, expected: str | None, dst: Path, store: str) -> Path:
    """The registered version's files in ``dst``, checked against ``expected`` (its ``mtst.model_digest`` tag);
    load the returned folder, never the store again."""
    if not expected:
        raise ModelDigestError(
            f"registered model {name!r} version {version} records no digest ({MODEL_DIGEST}), so what it would run "
            "cannot be checked; it is not loaded. Versions registered by `mtst compare` record one: run compare "
            "again (a re-run on the same run records it), or load a model folder you trust with --model PATH")
    path = download_tree(name, version, dst, store)
    found = tree_digest(path)
    if found != expected:
        raise ModelDigestError(
            f"registered model {name!r} version {version}: its files are not the ones registered (expected digest "
            f"{expected}, found {found}): they were changed in the artifact store after registration, so the model "
            "is not loaded. Register it again from a trusted run (`mtst compare`)")
    return path
