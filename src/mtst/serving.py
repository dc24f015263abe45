"""The model as an MLflow pyfunc: a DataFrame with a ``text`` column in; both tasks' labels and per-class
probabilities out (columns ``<task>_label`` and ``<task>_proba_<label>``).

The saved model folder travels as a pyfunc artifact and the ``mtst`` package as code, so
``mlflow.pyfunc.load_model("models:/mtst-multitask@champion")`` works without the repository. The backend that
serves it (``mtst.backends.BackendName``: torch, ONNX Runtime or OpenVINO) is chosen when the model is logged: for
any other than torch the artifact is the export folder that backend runs and the model's ``model_config`` names
the backend, so the served model is exactly the graph that was measured.

A registered version is loaded only after its files are checked against the digest recorded when it was
registered (:func:`load_registered`, ``mtst.model_digest``): ``mlflow.pyfunc.load_model("models:/...")`` would
run whatever the artifact store holds now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlflow.pyfunc import PythonModel

from mtst.backends import backend_named
from mtst.tasks import TASK_NAMES

MODEL_ARTIFACT = "mtst_model"
LABEL_SUFFIX, PROBA_INFIX = "_label", "_proba_"


def predict_frame(model: Any, texts: Sequence[str], batch_size: int = 64) -> pd.DataFrame:
    """One row per text: ``<task>_label`` then ``<task>_proba_<label>`` for every task of the model."""
    probabilities = model.predict_proba(list(texts), batch_size=batch_size)
    columns: dict[str, Any] = {}
    for task, labels in model.tasks.items():
        proba = np.asarray(probabilities[task], dtype=np.float64)
        columns[f"{task}{LABEL_SUFFIX}"] = [labels[i] for i in proba.argmax(axis=1)]
        for j, label in enumerate(labels):
            columns[f"{task}{PROBA_INFIX}{label}"] = proba[:, j]
    return pd.DataFrame(columns)


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``predict_frame`` output → ``{"task_a": {"label": ..., "probabilities": {label: p}}, ...}`` per row."""
    tasks = [t for t in TASK_NAMES if f"{t}{LABEL_SUFFIX}" in frame.columns]  # (a label may end in "_label" too)
    records = [{} for _ in range(len(frame))]
    for task in tasks:
        proba_cols = [c for c in frame.columns if c.startswith(f"{task}{PROBA_INFIX}")]
        labels = [c[len(f"{task}{PROBA_INFIX}"):] for c in proba_cols]
        values = frame[proba_cols].to_numpy(dtype=np.float64)
        for i, label in enumerate(frame[f"{task}{LABEL_SUFFIX}"]):
            records[i][task] = {"label": str(label),
                                "probabilities": {lab: round(float(p), 6) for lab, p in zip(labels, values[i], strict=True)}}
    return records


# predict() has no type hints on purpose: MLflow would validate inputs against them; the logged signature
# does that instead (MLflow prints a one-time reminder about the missing hints).
class MtstPyfunc(PythonModel):  # type: ignore[misc,valid-type]
    """``mlflow.pyfunc`` wrapper around a saved model, run by the backend named in the model's ``model_config``."""

    def load_context(self, context: Any) -> None:
        from mtst.export.backend import load_backend

        backend = (getattr(context, "model_config", None) or {}).get("backend", "torch")
        self.model = load_backend(context.artifacts[MODEL_ARTIFACT], backend)

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # no hints: MLflow would validate them
        if isinstance(model_input, pd.DataFrame):
            if "text" not in model_input.columns:
                raise ValueError(f"input needs a 'text' column; got {list(model_input.columns)}")
            texts = model_input["text"].astype(str).tolist()
        elif isinstance(model_input, str):
            texts = [model_input]
        else:
            texts = [str(t) for t in model_input]
        batch_size = int((params or {}).get("batch_size", 64))
        return predict_frame(self.model, texts, batch_size)


@dataclass(frozen=True)
class RegisteredVersion:
    """A registry reference resolved to one version (``uri``: ``models:/<name>/<version>``, never an alias) of the
    store ``store``, what its tags say (``details``: variant, selection metric and value, run) and the digest its
    files must have."""

    uri: str
    store: str
    name: str
    version: str
    digest: str | None
    details: dict[str, str] = field(default_factory=dict)


def resolve_registered(uri: str, tracking_uri: str) -> RegisteredVersion | None:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` → the version it names now; None for other
    ``models:/`` forms (a logged model's id: not registered, nothing recorded to check it against)."""
    from mlflow import MlflowClient

    from mtst.run_tags import MODEL_DIGEST, SELECTION_METRIC, SELECTION_VALUE, VARIANT

    body = uri[len("models:/"):].rstrip("/")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if "@" in body:
        name, alias = body.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    elif "/" in body and body.rsplit("/", 1)[1].isdigit():
        name, number = body.rsplit("/", 1)
        version = client.get_model_version(name, number)
    else:
        return None
    tags = version.tags or {}
    details = {"variant": tags.get(VARIANT), "run": version.run_id}
    if tags.get(SELECTION_METRIC) and tags.get(SELECTION_VALUE):
        details[tags[SELECTION_METRIC]] = tags[SELECTION_VALUE]
    return RegisteredVersion(f"models:/{name}/{version.version}", tracking_uri, name, str(version.version),
                             tags.get(MODEL_DIGEST), {k: v for k, v in details.items() if v})


def load_registered(registered: RegisteredVersion, folder: str | Path) -> Any:
    """The registered version as a pyfunc, loaded from its files downloaded into ``folder`` (kept while the model
    is in use) once they match the digest recorded at registration; ``mtst.model_digest.ModelDigestError`` when
    they do not, or when the version records none."""
    import mlflow

    from mtst.model_digest import fetch_verified

    path = fetch_verified(registered.name, registered.version, registered.digest, Path(folder), registered.store)
    return mlflow.pyfunc.load_model(str(path))


def pip_requirements(backend: str = "torch") -> list[str]:
    """Exact versions of what the pyfunc imports (explicit: MLflow's inference of them takes seconds)."""
    from importlib.metadata import version

    packages = ["mlflow", "torch", "transformers", "safetensors", "numpy", "pandas", "tqdm"]
    runtime = backend_named(backend).runtime
    if runtime not in packages:
        packages.append(runtime)
    return [f"{name}=={version(name).split('+')[0]}" for name in packages]


def log_pyfunc(model_dir: str | Path, model: Any, example_texts: Sequence[str], name: str = "model",
               backend: str = "torch") -> Any:
    """Log the model as a pyfunc on the active run, with signature and input example. ``backend`` picks what
    serves it: the saved folder for ``torch``, else the export that backend runs: ``model``'s own when it is
    that backend's (the very graph that was measured), else made here (cached); the signature and example
    output come from that backend."""
    import mlflow
    from mlflow.models import infer_signature

    import mtst
    from mtst.export.backend import export_for, load_backend

    artifact = Path(model_dir)
    if backend_named(backend).export is not None:  # not torch: the pyfunc serves the export that backend runs
        if getattr(model, "backend", "torch") == backend:  # already that backend's export: log it as measured
            artifact = Path(model.model_file).parent
        else:
            artifact = export_for(artifact, backend)
            model = load_backend(artifact, backend)
    example = pd.DataFrame({"text": list(example_texts)})
    signature = infer_signature(example, predict_frame(model, example["text"].tolist()))
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(Path(mtst.__file__).parent / "pyfunc_model.py"),  # models from code: no pickle
        artifacts={MODEL_ARTIFACT: str(artifact)},
        code_paths=[str(Path(mtst.__file__).parent)],
        model_config={"backend": backend},
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(backend),
    )
