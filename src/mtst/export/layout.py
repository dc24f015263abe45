"""What an ONNX export folder holds, and reading its ``mtst_onnx.json`` (import-light: no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtst.export.errors import ModelNotFoundError

CONFIG_FILE = "mtst_onnx.json"
MODEL_FILE = "model.onnx"
HEADS_FILE = "heads.onnx"
TOKENIZER_DIR = "tokenizer"
FORMAT = "mtst-onnx/1"


def output_names(tasks: list[str]) -> list[str]:
    """The graphs' probability outputs, one per task, in the model's task order."""
    return [f"proba_{task}" for task in tasks]


def graph_file(config: dict[str, Any]) -> str:
    """The whole-model graph of an export: ``model.onnx``, or the OpenVINO IR of an ``nncf-int8`` export."""
    return str(config.get("graph", MODEL_FILE))


def export_kind(config: dict[str, Any]) -> str:
    """``fp32``, ``int8`` (ONNX Runtime's dynamic quantisation) or ``nncf-int8`` (NNCF's, an OpenVINO IR):
    which backends an export answers for (``mtst.backends.backends_of``)."""
    quantisation = config.get("quantisation")
    if not quantisation:
        return "fp32"
    return "nncf-int8" if quantisation.get("method") == "nncf.quantize" else "int8"


def is_export(folder: str | Path) -> bool:
    return (Path(folder) / CONFIG_FILE).is_file()


def read_config(folder: str | Path) -> dict[str, Any]:
    """The export's ``mtst_onnx.json``; an error that names the folder when it is not an mtst ONNX export."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"{folder} is not an mtst ONNX export (no {CONFIG_FILE}); "
                                 "make one with `mtst export --format onnx --model DIR --out DIR`")
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("format") != FORMAT:
        raise ModelNotFoundError(f"{path}: format {config.get('format')!r} is not {FORMAT!r}; export the model again")
    graph = graph_file(config)
    weights = [str(Path(graph).with_suffix(".bin"))] if graph.endswith(".xml") else []  # an IR's weights
    missing = [name for name in (graph, *weights, HEADS_FILE, TOKENIZER_DIR) if not (Path(folder) / name).exists()]
    if missing:
        raise ModelNotFoundError(f"{folder}: the ONNX export is incomplete (missing {', '.join(missing)}); export it again")
    return config
