"""``quantise_openvino``: the fp32 export's encoder with int8 weights and int8 activations, quantised by NNCF
(OpenVINO's compression library) and written as an OpenVINO IR: the graph the ``openvino-int8`` backend runs.

Why static int8 through NNCF: ONNX Runtime's dynamic int8 (``onnx-int8``) measures each activation's range on
every batch at run time (a cost on every call, and ranges that move with the batch); NNCF measures them once,
on calibration sentences, after smoothing the outliers of the LayerNorm-fed activations into the weights
(SmoothQuant): faster than ONNX Runtime's int8 and closer to torch's predictions
(``benchmarks/onnx_inference.py`` writes the figures; docs/serving.md).

Calibration: one sentence per sample (no padding enters the ranges), :data:`CALIBRATION_SENTENCES` in all,
taken in equal shares from each task's *validation* split, never the test split the model is scored on
(:func:`calibration_sentences`). The sentences' digest is part of the export's cache key and of its
``mtst_onnx.json``, so another calibration set is another export.

The heads (everything after the ``embedding`` output) stay fp32, as in the other exports, so the whole graph
and ``heads.onnx`` agree on embeddings → probabilities.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from mtst.config import ConfigError
from mtst.export.errors import ModelNotFoundError
from mtst.export.layout import CONFIG_FILE, HEADS_FILE, MODEL_FILE, TOKENIZER_DIR, read_config
from mtst.io import atomic_dir, write_json

GRAPH_FILE = "model.xml"  # with its weights in model.bin
CALIBRATION_SENTENCES = 320
NNCF_QUANTISATION: dict[str, Any] = {
    "method": "nncf.quantize", "preset": "mixed", "model_type": "transformer", "fp32_nodes": "heads",
    "calibration_samples": "one sentence each (unpadded)", "overflow_fix": "enable",
}
"""NNCF's post-training quantisation: int8 weights per output channel, int8 activations with ranges from the
calibration sentences (the ``mixed`` preset: weights symmetric, activations asymmetric), and the transformer
model type's rules (SmoothQuant; the operations NNCF leaves in fp32 in transformers).

``overflow_fix: enable``: every MatMul's weights use 7 bits of the 8 (NNCF's default fixes the first layer
only). Without VNNI (an AVX2-only CPU) oneDNN multiplies u8 activations by s8 weights through 16-bit
intermediates, and a pair of 8-bit products can saturate them; at 7 bits none can. The export is made once and
served on whatever CPU a node has, so the fix is made for every class: on an AVX2-only CPU the full 8 bits lost
more than the serving tolerance on Task A (``mtst.cpu`` says how to check that class on a newer CPU;
``benchmarks/int8_classes.py`` measures each backend's loss per class)."""


def calibration_sentences(splits_dir: str | Path, tasks: Sequence[str], total: int = CALIBRATION_SENTENCES) -> list[str]:
    """The first ``total / len(tasks)`` sentences of each task's validation split (the split the model was
    tuned on, not the one it is scored on)."""
    from mtst.data.datasets import load_split

    share = max(1, total // max(1, len(tasks)))
    texts: list[str] = []
    for task in tasks:
        texts += load_split(Path(splits_dir), task, "validation")["text"].astype(str).tolist()[:share]
    return texts


def calibration_digest(texts: Sequence[str]) -> str:
    """What identifies a calibration set: the sentences, in order."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def _heads_nodes(model: Any) -> list[str]:
    """The ``MatMul`` nodes downstream of the ``embedding`` output: the task heads, kept in fp32."""
    (embedding,) = [output for output in model.outputs if "embedding" in output.get_names()]
    todo, seen, heads = [embedding.get_node().input_value(0).get_node()], set(), []  # the output's producer
    while todo:
        for output in todo.pop().outputs():
            for target in output.get_target_inputs():
                node = target.get_node()
                if node.get_friendly_name() not in seen:
                    seen.add(node.get_friendly_name())
                    todo.append(node)
                    if node.get_type_name() == "MatMul":
                        heads.append(node.get_friendly_name())
    return heads


def quantise_openvino(fp32_export: str | Path, out_dir: str | Path, calibration: Sequence[str],
                      overflow_fix: str = NNCF_QUANTISATION["overflow_fix"]) -> dict[str, Any]:
    """NNCF's int8 graph of the fp32 export folder ``fp32_export``, calibrated on ``calibration``, written
    (atomically, as a whole) to ``out_dir`` with the export's heads, tokenizer and a ``mtst_onnx.json`` that
    records the quantisation and the calibration; returns that metadata. ``overflow_fix``: NNCF's
    ``OverflowFix`` (``enable``, ``first_layer_only``, ``disable``), another value only to measure the fix."""
    if not calibration:
        raise ConfigError(f"openvino-int8 needs calibration sentences to measure its activation ranges, and none were "
                          f"given for {fp32_export}: the evaluate and compare steps give the splits' validation "
                          "sentences (load_backend(..., calibration=...)); for a model of your own, export it with "
                          "`mtst export --format openvino --int8 --calibration FILE`")
    import nncf
    import openvino as ov

    from mtst.export.onnx_export import probe_differences
    from mtst.export.openvino_model import OpenVinoModel

    source = Path(fp32_export)
    config = read_config(source)
    if config.get("quantisation"):
        raise ModelNotFoundError(f"{source} is already quantised; give an fp32 export (`mtst export --format onnx`)")
    reference = OpenVinoModel.load(source, threads=1)
    samples = [{name: np.asarray(tokens[name], dtype=np.int64) for name in ("input_ids", "attention_mask")}
               for tokens in (reference.tokenizer([text], truncation=True, max_length=reference.max_length,
                                                  return_tensors="np") for text in calibration)]
    model = ov.Core().read_model(str(source / MODEL_FILE))
    logging.getLogger("nncf").setLevel(logging.WARNING)  # its INFO lines would flood the logs
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars: stdout is the commands' JSON answer
        quantised = nncf.quantize(model, nncf.Dataset(samples), preset=nncf.QuantizationPreset.MIXED,
                                  model_type=nncf.ModelType.TRANSFORMER, subset_size=len(samples),
                                  ignored_scope=nncf.IgnoredScope(names=_heads_nodes(model)),
                                  advanced_parameters=nncf.AdvancedQuantizationParameters(
                                      overflow_fix=nncf.OverflowFix(overflow_fix)))
    with atomic_dir(out_dir) as tmp:
        ov.save_model(quantised, str(tmp / GRAPH_FILE), compress_to_fp16=False)
        shutil.copyfile(source / HEADS_FILE, tmp / HEADS_FILE)
        shutil.copytree(source / TOKENIZER_DIR, tmp / TOKENIZER_DIR)
        config = {**config, "graph": GRAPH_FILE, "parameters": reference.size()["parameters"],
                  "quantisation": {**NNCF_QUANTISATION, "overflow_fix": overflow_fix,
                                   "calibration_sentences": len(calibration),
                                   "calibration_sha256": calibration_digest(calibration)},
                  "versions": {**config["versions"], **{name: version(name) for name in ("openvino", "nncf")}}}
        int8 = OpenVinoModel(tmp / GRAPH_FILE, tmp / HEADS_FILE, reference.tokenizer, config, threads=1)
        config["parity"] = {**config["parity"], "int8_max_abs_diff": probe_differences(reference, int8)}
        write_json(tmp / CONFIG_FILE, config)
    return config
