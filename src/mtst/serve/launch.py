"""``mtst serve``'s work in the main environment (torch is here: exporting happens here), then MLServer.

:func:`prepare` turns a model reference into MLServer's folder (``LAYOUT.serving(<name>)``, written atomically):
- ``models:/<name>@<alias>`` or ``models:/<name>/<version>``: resolved to one version, its files downloaded into
  the folder's ``registered/`` and checked against the digest recorded at registration
  (``mtst.serving.resolve_registered``, ``mtst.model_digest.fetch_verified``): a version whose files changed since
  is refused before anything is written or run;
- a local folder (saved model, training folder, export folder, or an MLflow model folder) is taken as given.
The backend's export is then found or made (``mtst.export.backend.export_for``, cached), and the settings files
point MLServer at it. :func:`start` replaces this process with MLServer, run from the serving environment
(``MTST_SERVING_VENV``), which has the runtimes but no torch.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mtst.backends import backend_named, backends_of
from mtst.config import ConfigError, Params, ServeParams
from mtst.dag import LAYOUT
from mtst.environment import Environment, env_name
from mtst.export.errors import ModelNotFoundError
from mtst.export.layout import export_kind, is_export, read_config
from mtst.io import atomic_dir
from mtst.serve import settings as serve_settings
from mtst.serve.limits import INPUT

REGISTERED = "registered"
"""The folder, inside MLServer's, of a registered version's verified files."""
EXAMPLE = "Shares in the bank fell sharply after the results."


@dataclass(frozen=True)
class Prepared:
    """MLServer's folder for one model, and what it serves."""

    folder: Path
    name: str
    model: str
    """What is served: the registered version (``models:/<name>/<version>``, never an alias) or the folder."""
    version: str | None
    export: Path
    backend: str
    url: str

    def curl(self) -> str:
        """A request of one sentence, ready to paste."""
        body = json.dumps({"inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [1], "data": [EXAMPLE]}]})
        return f"curl -s {self.url}/v2/models/{self.name}/infer -H 'Content-Type: application/json' -d '{body}'"


def with_options(params: Params, **options: object) -> Params:
    """``params`` with the ``serve`` settings given as command options (None: not given), held to the section's
    rules: a bad value is a ``ConfigError`` naming the option."""
    from pydantic import ValidationError

    given = {key: value for key, value in options.items() if value is not None}
    try:
        serve = ServeParams(**{**params.serve.model_dump(), **given})
    except ValidationError as exc:
        error = exc.errors()[0]
        option = f"--{str(error['loc'][0]).replace('_', '-')}: " if error["loc"] else ""
        raise ConfigError(f"mtst serve: {option}{str(error['msg']).removeprefix('Value error, ')}") from None
    return params.model_copy(update={"serve": serve})


def _pyfunc_artifact(folder: Path) -> Path:
    """The model folder inside an mtst pyfunc (``mtst.serving.log_pyfunc``): a saved model or an export."""
    import yaml

    from mtst.serving import MODEL_ARTIFACT

    flavor = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))["flavors"].get("python_function", {})
    artifact = (flavor.get("artifacts") or {}).get(MODEL_ARTIFACT)
    if not artifact:
        raise ModelNotFoundError(f"{folder}: an MLflow model, but not an mtst one (no {MODEL_ARTIFACT} artifact)")
    return folder / artifact["path"]


def _registered(reference: str, params: Params, dst: Path) -> tuple[Path, str, str]:
    """The pyfunc's model folder of the registered version ``reference``, verified, in ``dst``; the version's
    ``models:/<name>/<version>`` and number."""
    from mlflow.exceptions import MlflowException

    from mtst import tracking
    from mtst.model_digest import fetch_verified
    from mtst.redaction import redact_uri
    from mtst.serving import resolve_registered

    store = tracking.preflight(params.tracking)  # an unreachable server fails here, in seconds
    try:
        registered = resolve_registered(reference, store)
        if registered is None:
            raise ModelNotFoundError(f"model {reference!r} is not a registered version: serve "
                                     "models:/<name>@<alias>, models:/<name>/<version> or a local folder")
        files = fetch_verified(registered.name, registered.version, registered.digest, dst, store)
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"model {reference!r} cannot be loaded from the MLflow store {redact_uri(store)}: "
                                 f"{first}. Run `mtst compare` to register the champion, or check the name / alias / "
                                 "version.") from None
    return _pyfunc_artifact(files), registered.uri, registered.version


def _local(path: Path) -> Path:
    """A local folder's model: an MLflow model's artifact, an export, a saved model or a training folder's."""
    from mtst.export.onnx_export import resolve_model_dir

    if (path / "MLmodel").is_file():
        return _pyfunc_artifact(path)
    return path if is_export(path) else resolve_model_dir(path)


def export_folder(source: Path, backend: str) -> Path:
    """The export ``backend`` runs for the model folder ``source``: ``source`` itself when it is an export of that
    kind, else the cached export of the saved model (made now on first use)."""
    from mtst.export.backend import export_for

    row = backend_named(backend)
    if is_export(source):
        made = export_kind(read_config(source))
        if backend not in backends_of(made):
            raise ModelNotFoundError(f"{source} is an {made} export, for backend {' | '.join(backends_of(made))}, "
                                     f"not {backend!r}: serve it with --backend {backends_of(made)[0]}, or give the "
                                     "saved model folder")
        return source
    if row.export == "nncf-int8":
        raise ModelNotFoundError(f"backend {backend!r} serves an int8 graph calibrated on your sentences: make it with "
                                 f"`mtst export {row.export_command}` and serve that folder")
    return export_for(source, backend)


def prepare(reference: str, params: Params, out: Path | None = None) -> Prepared:
    """MLServer's folder for ``reference`` under ``out`` (default ``LAYOUT.serving(<name>)``), replaced as a whole
    only when everything checked out."""
    name = serve_settings.model_name(params)
    out = Path(out or LAYOUT.serving(name))
    backend = params.serve.backend
    with atomic_dir(out) as tmp:
        if reference.startswith("models:/"):
            source, model, version = _registered(reference, params, tmp / REGISTERED)
        elif ":/" in reference:
            raise ModelNotFoundError(f"model {reference!r}: serve a registered version (models:/<name>@<alias>, "
                                     "models:/<name>/<version>) or a local folder")
        else:
            source, model, version = _local(Path(reference)), str(Path(reference).resolve()), None
        export = export_folder(source, backend)
        serve_settings.write(tmp, params, export, version)
    if export.is_relative_to(tmp):  # the registered export itself, now in place
        export = out / export.relative_to(tmp)
    return Prepared(out, name, model, version, export, backend, f"http://{params.serve.host}:{params.serve.port}")


def mlserver() -> Path:
    """The ``mlserver`` of the serving environment; an error that says how to make it when it is missing."""
    venv = Environment.current().serving_venv
    binary = venv / "bin" / "mlserver"
    if not os.access(binary, os.X_OK):
        raise ModelNotFoundError(f"no MLServer in the serving environment {venv} ({env_name('serving_venv')}): "
                                 "make it with `make serving-setup`")
    return binary


def start(prepared: Prepared) -> None:
    """Replace this process with MLServer serving ``prepared`` (it runs until SIGINT / SIGTERM)."""
    binary = mlserver()
    sys.stdout.flush()  # what was printed must reach a pipe before the process image is replaced
    sys.stderr.flush()
    os.execv(binary, [str(binary), "start", str(prepared.folder)])
