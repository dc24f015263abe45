"""``mtst predict``: sentences from a CSV / JSONL / Parquet file with a ``text`` column → JSONL with both tasks'
labels and probabilities, from a saved model folder, a training folder, an MLflow model folder, or an MLflow
URI such as ``models:/mtst-multitask@champion`` (``runs:/<id>/model`` and ``models:/<name>/<version>`` too).

Each output line: ``{"row": 1, "text": ..., ["id": ...,] "model": ..., "task_a": {"label": ..., "probabilities":
{...}}, "task_b": {...}}`` — the input's ``id`` column, if any, is carried over.

Which model answered is never left implicit: a registry alias (``models:/<name>@<alias>``) is resolved to its
version first and that version is loaded (``models:/mtst-multitask/7``), so the alias moving meanwhile cannot
change the answer; the resolved reference is every row's ``model``, the summary's ``model_uri`` /
``model_version``, and a line on stderr with the version's variant and selection value.
"""

from __future__ import annotations

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
from mtst.io import write_jsonl
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
    import mlflow
    from mlflow.exceptions import MlflowException

    from mtst import tracking

    if uri.startswith(URI_SCHEMES):
        tracking_uri = tracking.preflight(tracking_params)  # an unreachable server fails here, in seconds
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
    else:
        tracking_uri = "(local folder)"
    try:
        resolved, version, details = resolve_registry_uri(uri, tracking_uri) if uri.startswith("models:/") \
            else (uri, None, {})
        pyfunc = mlflow.pyfunc.load_model(resolved)
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"model {uri!r} cannot be loaded from the MLflow store {redact_uri(tracking_uri)}: {first}. "
                                 "Run `mtst compare` to register the champion, or check the name / alias / version.") from None
    return LoadedModel(lambda texts: pyfunc.predict(pd.DataFrame({"text": texts})), resolved, version, details)


def resolve_registry_uri(uri: str, tracking_uri: str) -> tuple[str, str | None, dict[str, str]]:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` → (``models:/<name>/<version>``, version, what
    the version's tags say: variant, selection metric and value, run). Other ``models:/`` forms (a logged model
    id) are returned as they are."""
    from mlflow import MlflowClient

    from mtst.run_tags import SELECTION_METRIC, SELECTION_VALUE, VARIANT

    body = uri[len("models:/"):].rstrip("/")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if "@" in body:
        name, alias = body.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    elif "/" in body and body.rsplit("/", 1)[1].isdigit():
        name, number = body.rsplit("/", 1)
        version = client.get_model_version(name, number)
    else:
        return uri, None, {}
    tags = version.tags or {}
    details = {"variant": tags.get(VARIANT), "run": version.run_id}
    if tags.get(SELECTION_METRIC) and tags.get(SELECTION_VALUE):
        details[tags[SELECTION_METRIC]] = tags[SELECTION_VALUE]
    return f"models:/{name}/{version.version}", str(version.version), {k: v for k, v in details.items() if v}


def read_input(path: str | Path) -> pd.DataFrame:
    """The input file's rows; every ``text`` must be a non-empty string (errors name the file and row)."""
    path = Path(path)
    loaded = load(path, required=("text",), optional=("id",))  # only the columns predict uses are read
    for value, row in zip(loaded.frame["text"], loaded.rows):
        if not value.strip():
            raise DataFileError(path, "non_empty", "'text' is empty", row=row)
    return loaded.frame


def predict_file(model: str | Path, input_path: str | Path, output_path: str | Path, batch_size: int = 64,
                 tracking_params: TrackingParams | None = None,
                 announce: Callable[[str], None] | None = None, backend: str = "torch") -> dict[str, Any]:
    """Predict every row of ``input_path`` into ``output_path``. ``announce`` gets one line saying which model
    answers (default: printed on stderr, so stdout stays the JSON summary)."""
    output_path = Path(output_path)
    if output_path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise DataFileError(output_path, "format", "the output is JSON Lines: name it *.jsonl")
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
    write_jsonl(output_path, rows)
    counts = {task: pd.Series([r[task]["label"] for r in records]).value_counts().to_dict() for task in (records[0] if records else {})}
    return {"rows": len(rows), "output": str(output_path), "model": str(model), "model_uri": loaded.uri,
            "model_version": loaded.version, **({"model_details": loaded.details} if loaded.details else {}),
            "labels": counts}


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
