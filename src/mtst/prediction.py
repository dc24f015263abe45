"""``mtst predict``: sentences from a CSV / JSONL / Parquet file with a ``text`` column → JSONL with both tasks'
labels and probabilities, from a saved model folder, a training folder, an MLflow model folder, or an MLflow
URI such as ``models:/mtst-multitask@champion`` (``runs:/<id>/model`` and ``models:/<name>/<version>`` too).

Each output line: ``{"row": 1, "text": ..., ["id": ...,] "model": ..., "task_a": {"label": ..., "probabilities":
{...}}, "task_b": {...}}`` — the input's ``id`` column, if any, is carried over.

Which model answered is never left implicit: a registry alias (``models:/<name>@<alias>``) is resolved to its
version first and that version is loaded (``models:/mtst-multitask/7``), so the alias moving meanwhile cannot
change the answer; the resolved reference is every row's ``model``, the summary's ``model_uri`` /
``model_version``, and a line on stderr with the version's variant and selection value. That version's files are
downloaded once, checked against the digest recorded when it was registered and loaded from that download
(``mtst.model_digest``): a model changed in the artifact store since is refused.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mtst.redaction import redact_uri
from mtst.config import TrackingParams
from mtst.contracts.training import MODEL, MODEL_CONFIG
from mtst.data.files import DataFileError, load
from mtst.export.errors import ModelNotFoundError
from mtst.export.backend import load_backend
from mtst.export.layout import is_export
from mtst.io import first_json_row, write_jsonl
from mtst.serving import frame_to_records, predict_frame

URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


Predictor = Callable[[list[str]], pd.DataFrame]


@dataclass
class LoadedModel:
    """A predictor and what exactly it is: ``uri`` is the resolved reference (a registry version, never an alias)."""

    predict: Predictor
    uri: str
    version: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    files: Any = field(default=None, repr=False)  # the verified download a registered model runs from, kept alive

    def describe(self, requested: str) -> str:
        via = f" (resolved from {requested})" if requested != self.uri else ""
        facts = ", ".join(f"{k} {v}" for k, v in self.details.items())
        return f"model {self.uri}{via}" + (f": {facts}" if facts else "")


def load_predictor(model: str | Path, batch_size: int = 64, tracking_params: TrackingParams | None = None,
                   backend: str = "torch") -> LoadedModel:
    """``backend`` runs a local model folder with torch or ONNX Runtime (``mtst.export.backend``); an MLflow model
    is served by the backend it was logged with."""
    ref = str(model)
    if ref.startswith(URI_SCHEMES):
        return _mlflow_predictor(ref, tracking_params)
    path = Path(ref)
    if (path / "MLmodel").exists():
        return _mlflow_predictor(str(path), tracking_params)
    for candidate in (path, path / MODEL):  # a saved model folder, or a training folder holding model/
        if (candidate / MODEL_CONFIG).exists() or is_export(candidate):
            loaded = load_backend(candidate, backend)
            return LoadedModel(lambda texts: predict_frame(loaded, texts, batch_size), str(candidate.resolve()),
                               details={"backend": getattr(loaded, "backend", backend)})  # what runs it
    if not path.exists():
        raise ModelNotFoundError(f"model {ref!r}: no such folder; give a saved model folder, a training folder, "
                                 "or an MLflow URI like models:/mtst-multitask@champion")
    raise ModelNotFoundError(f"model {ref!r}: the folder holds neither a saved mtst model (mtst.json) nor an MLflow "
                             "model (MLmodel)")


def _mlflow_predictor(uri: str, tracking_params: TrackingParams | None = None) -> LoadedModel:
    """A registry reference (alias or version) loads only once its files match the digest recorded when it was
    registered (``mtst.serving.load_registered``); ``runs:/``, a logged model's id and a local MLflow model folder
    are not registered versions and load as named."""
    import tempfile

    import mlflow
    from mlflow.exceptions import MlflowException

    from mtst import tracking
    from mtst.serving import load_registered, resolve_registered

    if uri.startswith(URI_SCHEMES):
        tracking_uri = tracking.preflight(tracking_params)  # an unreachable server fails here, in seconds
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    else:
        tracking_uri = "(local folder)"
    try:
        registered = resolve_registered(uri, tracking_uri) if uri.startswith("models:/") else None
        if registered is not None:
            folder = tempfile.TemporaryDirectory(prefix="mtst-model-")  # removed with the LoadedModel
            pyfunc = load_registered(registered, folder.name)
        else:
            pyfunc = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"model {uri!r} cannot be loaded from the MLflow store {redact_uri(tracking_uri)}: {first}. "
                                 "Run `mtst compare` to register the champion, or check the name / alias / version.") from None
    if registered is None:
        return LoadedModel(lambda texts: pyfunc.predict(pd.DataFrame({"text": texts})), uri)
    return LoadedModel(lambda texts: pyfunc.predict(pd.DataFrame({"text": texts})), registered.uri,
                       registered.version, registered.details, folder)


def read_input(path: str | Path) -> pd.DataFrame:
    """The input file's rows; every ``text`` must be a non-empty string (errors name the file and row)."""
    path = Path(path)
    loaded = load(path, required=("text",), optional=("id",))  # only the columns predict uses are read
    for value, row in zip(loaded.frame["text"], loaded.rows):
        if not value.strip():
            raise DataFileError(path, "non_empty", "'text' is empty", row=row)
    return loaded.frame


def written_by_predict(path: str | Path) -> bool:
    """Whether ``path`` is a file ``mtst predict`` wrote, known by its first line: row 1, its text and the model
    that answered. The rows are the record (no sidecar file, no header line: the output stays one JSON line per
    input row)."""
    row = first_json_row(path)
    return (isinstance(row, dict) and row.get("row") == 1 and isinstance(row.get("text"), str)
            and isinstance(row.get("model"), str))


def check_output(input_path: str | Path | None, output_path: str | Path, force: bool = False, *,
                 ours: Callable[[Path], bool] = written_by_predict, command: str = "mtst predict") -> None:
    """Refuse an output path whose replacement would destroy something of the user's: the input itself (under
    any name: a symlink or a hard link to it), anything but a regular file, or a file ``command`` did not write
    (``ours`` tells) unless ``force``."""
    output_path = Path(output_path)
    if not os.path.lexists(output_path):
        return
    if input_path is not None and Path(input_path).exists() and output_path.exists() and \
            os.path.samefile(input_path, output_path):
        raise DataFileError(output_path, "output_is_input", f"is the input file {input_path}: the output "
                            "would replace it; give another output path")
    if output_path.exists() and not output_path.is_file():
        raise DataFileError(output_path, "output_kind", "exists and is not a regular file; give another output path")
    if not force and not ours(output_path):
        raise DataFileError(output_path, "overwrite", f"exists and was not written by `{command}`; give another "
                            "output path, or --force to replace it")


def predict_file(model: str | Path, input_path: str | Path, output_path: str | Path, batch_size: int = 64,
                 tracking_params: TrackingParams | None = None,
                 announce: Callable[[str], None] | None = None, backend: str = "torch",
                 force: bool = False) -> dict[str, Any]:
    """Predict every row of ``input_path`` into ``output_path``. ``announce`` gets one line saying which model
    answers (default: printed on stderr, so stdout stays the JSON summary). An existing ``output_path`` is
    replaced only when ``mtst predict`` wrote it, or with ``force`` (see :func:`check_output`)."""
    output_path = Path(output_path)
    if output_path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise DataFileError(output_path, "format", "the output is JSON Lines: name it *.jsonl")
    check_output(input_path, output_path, force)  # before any work, and again before the rename
    frame = read_input(input_path)  # bad input stops before the model loads
    loaded = load_predictor(model, batch_size, tracking_params, backend)
    (announce or _stderr)(f"mtst predict: {loaded.describe(str(model))}")
    texts = frame["text"].tolist()
    predictions = loaded.predict(texts)
    records = frame_to_records(predictions)
    rows = []
    for i, (text, record) in enumerate(zip(texts, records, strict=True)):
        row: dict[str, Any] = {"row": i + 1, "text": text}
        if "id" in frame.columns:
            row["id"] = frame["id"].iloc[i]
        rows.append({**row, "model": loaded.uri, **record})
    check_output(input_path, output_path, force)  # a file may have appeared there while the model ran
    write_jsonl(output_path, rows)
    counts = {task: pd.Series([r[task]["label"] for r in records]).value_counts().to_dict() for task in (records[0] if records else {})}
    return {"rows": len(rows), "output": str(output_path), "model": str(model), "model_uri": loaded.uri,
            "model_version": loaded.version, **({"model_details": loaded.details} if loaded.details else {}),
            "labels": counts}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
