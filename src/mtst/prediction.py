"""``mtst predict``: sentences from a CSV / JSONL / Parquet file with a ``text`` column → JSONL with both tasks'
labels and probabilities, from a saved model folder, a training folder, an MLflow model folder, or an MLflow
URI such as ``models:/mtst-multitask@champion`` (``runs:/<id>/model`` and ``models:/<name>/<version>`` too).

Each output line: ``{"row": 1, "text": ..., ["id": ...,] "task_a": {"label": ..., "probabilities": {...}},
"task_b": {...}}`` — the input's ``id`` column, if any, is carried over.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mtst.config import TrackingParams
from mtst.data.files import DataFileError, detect_format, read_table
from mtst.evaluation.errors import ModelNotFoundError
from mtst.io import write_jsonl
from mtst.serving import frame_to_records, predict_frame

URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


Predictor = Callable[[list[str]], pd.DataFrame]


def load_predictor(model: str | Path, batch_size: int = 64, tracking_params: TrackingParams | None = None) -> Predictor:
    ref = str(model)
    if ref.startswith(URI_SCHEMES):
        return _mlflow_predictor(ref, tracking_params)
    path = Path(ref)
    if (path / "MLmodel").exists():
        return _mlflow_predictor(str(path), tracking_params)
    for candidate in (path, path / "model"):  # a saved model folder, or a training folder holding model/
        if (candidate / "mtst.json").exists():
            from mtst.model import MultiTaskSentenceTransformer

            loaded = MultiTaskSentenceTransformer.load(candidate)
            return lambda texts: predict_frame(loaded, texts, batch_size)
    if not path.exists():
        raise ModelNotFoundError(f"model {ref!r}: no such folder; give a saved model folder, a training folder, "
                                 "or an MLflow URI like models:/mtst-multitask@champion")
    raise ModelNotFoundError(f"model {ref!r}: the folder holds neither a saved mtst model (mtst.json) nor an MLflow "
                             "model (MLmodel)")


def _mlflow_predictor(uri: str, tracking_params: TrackingParams | None = None) -> Predictor:
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
        pyfunc = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"model {uri!r} cannot be loaded from the MLflow store {tracking_uri}: {first}. "
                                 "Run `mtst compare` to register the champion, or check the name / alias / version.") from None
    return lambda texts: pyfunc.predict(pd.DataFrame({"text": texts}))


def read_input(path: str | Path) -> pd.DataFrame:
    """The input file's rows; every ``text`` must be a non-empty string (errors name the file and row)."""
    path = Path(path)
    frame = read_table(path, required=("text",))
    csv = detect_format(path) == "csv"
    for position, value in enumerate(frame["text"], start=1):
        if not value.strip():
            raise DataFileError(path, "non_empty", "'text' is empty", row=position + 1 if csv else position)
    return frame


def predict_file(model: str | Path, input_path: str | Path, output_path: str | Path, batch_size: int = 64,
                 tracking_params: TrackingParams | None = None) -> dict[str, Any]:
    output_path = Path(output_path)
    if output_path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise DataFileError(output_path, "format", "the output is JSON Lines: name it *.jsonl")
    frame = read_input(input_path)  # bad input stops before the model loads
    predictor = load_predictor(model, batch_size, tracking_params)
    texts = frame["text"].tolist()
    predictions = predictor(texts)
    records = frame_to_records(predictions)
    rows = []
    for i, (text, record) in enumerate(zip(texts, records, strict=True)):
        row: dict[str, Any] = {"row": i + 1, "text": text}
        if "id" in frame.columns:
            row["id"] = frame["id"].iloc[i]
        rows.append({**row, **record})
    write_jsonl(output_path, rows)
    counts = {task: pd.Series([r[task]["label"] for r in records]).value_counts().to_dict() for task in (records[0] if records else {})}
    return {"rows": len(rows), "output": str(output_path), "model": str(model), "labels": counts}
