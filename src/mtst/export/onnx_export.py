"""``export_onnx``: a saved multi-task model as one ONNX graph (encoder, masked mean pooling, L2 norm and every
task head, softmax included), optionally with int8 weights and int8 matrix products, for ONNX Runtime on CPU.

The export folder (written atomically as a whole):

- ``model.onnx``: inputs ``input_ids`` and ``attention_mask`` (int64, dynamic ``batch`` × ``sequence``, so
  batches are padded to their longest sentence as in torch); outputs ``embedding`` and ``proba_<task>``.
- ``heads.onnx``: ``embedding`` → ``proba_<task>``, always fp32, for callers that embed once and apply the
  heads later (``mtst evaluate`` does); ``model.onnx`` keeps its heads in fp32 too, so both paths agree.
- ``tokenizer/``: the model's tokenizer files; ``mtst_onnx.json``: tasks and labels, ``max_length``, opset,
  the fusions applied, the quantisation settings, the library versions, and the parity measured at export.

Why these choices: optimum-onnx / optimum-intel do not support transformers 5, so the graph comes from
``torch.onnx.export`` (the TorchScript exporter: the dynamo one needs onnxscript, not a dependency) with the
encoder switched to eager attention, because ONNX Runtime's BERT optimiser recognises that pattern and fuses
it into ``Attention`` nodes (the SDPA graph fuses none); the fused graph (embedding + LayerNorm, attention,
bias + GELU, skip + LayerNorm) is what makes ONNX Runtime faster than torch. Every export is checked against torch on a few
sentences before it is written: an fp32 graph that differs by more than :data:`PARITY_TOLERANCE` is refused.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mtst.contracts.training import MODEL, MODEL_CONFIG
from mtst.export.errors import ModelNotFoundError
from mtst.export.layout import CONFIG_FILE, FORMAT, HEADS_FILE, MODEL_FILE, TOKENIZER_DIR, output_names, read_config
from mtst.export.onnx_model import OnnxModel
from mtst.io import atomic_dir, write_json
from mtst.model import MultiTaskSentenceTransformer

OPSET = 17
PARITY_TOLERANCE = 1e-4
"""Largest absolute difference from torch (embeddings and probabilities) an fp32 export may show."""

QUANTISATION: dict[str, Any] = {
    "method": "quantize_dynamic", "weight_type": "QInt8", "per_channel": True, "reduce_range": False,
    "op_types": ["MatMul", "Attention"], "fp32_nodes": "last attention",
}
"""ONNX Runtime's dynamic quantisation: int8 weights with one scale per output channel, activations quantised
to int8 at run time (one range per tensor per batch), int8 products (VNNI on this CPU). Quantised: every
encoder ``MatMul`` and every fused ``Attention`` (its Q/K/V projection) but the last block's; that one, the
embedding table, the LayerNorms and the heads (``Gemm``) stay fp32. The last block feeds the pooled sentence
vector directly, so its rounding is not averaged away by later layers: of the graphs tried side by side
(everything quantised, the last attention fp32, the whole last block fp32, ``MatMulNBits``, per-tensor
weights), this one kept Task B closest to torch at nearly the speed of quantising everything.
``benchmarks/onnx_inference.py`` measures this graph beside ``MatMulNBits``. Dynamic ranges follow the batch, so an int8 model's answers shift slightly with
how the sentences are batched."""

PROBE_SENTENCES = (
    "Shares in the company rose sharply after it reported record quarterly profits.",
    "Awful.",
    "I did not like this film at all: the plot was dull, the acting wooden and it went on far too long.",
)
"""Sentences of different lengths (so padding is exercised) on which every export is compared with torch."""


class ExportError(RuntimeError):
    """The exported graph does not reproduce the torch model (a bug or an unsupported encoder, not bad input)."""


class _EncoderAndHeads(nn.Module):
    """``(input_ids, attention_mask)`` → ``(embedding, proba_<task>...)``: the whole model as one graph."""

    def __init__(self, model: MultiTaskSentenceTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        embedding = self.model.embed_tokens(input_ids, attention_mask)
        return (embedding, *(torch.softmax(self.model.heads[task](embedding), dim=-1) for task in self.model.tasks))


class _Heads(nn.Module):
    """``embedding`` → ``(proba_<task>...)``."""

    def __init__(self, model: MultiTaskSentenceTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.softmax(self.model.heads[task](embedding), dim=-1) for task in self.model.tasks)


def resolve_model_dir(path: str | Path) -> Path:
    """A saved model folder (``mtst.json``), or a training folder holding one in ``model/``."""
    path = Path(path)
    for candidate in (path, path / MODEL):
        if (candidate / MODEL_CONFIG).is_file():
            return candidate
    if not path.exists():
        raise ModelNotFoundError(f"model {str(path)!r}: no such folder; give a saved model folder or a training folder")
    raise ModelNotFoundError(f"model {str(path)!r}: the folder holds no saved mtst model (mtst.json), "
                             "neither in it nor in its model/ subfolder")


def _export_graph(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str],
                  outputs: list[str], dynamic_axes: dict[str, dict[int, str]]) -> None:
    # The wrapper must be in eval mode itself: the exporter restores the wrapper's own mode afterwards,
    # recursively, which would leave the model in training mode (dropout on) for the parity check.
    module.eval()
    with warnings.catch_warnings():  # deprecation of the TorchScript exporter, tracer notes: parity is checked instead
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes=dynamic_axes, do_constant_folding=True)


def _optimise(raw: Path, out: Path, model: MultiTaskSentenceTransformer) -> dict[str, int]:
    """ONNX Runtime's transformer fusions for BERT-type encoders; returns how many of each fused op it made."""
    config = model.encoder.config
    if config.model_type != "bert":
        raw.replace(out)
        return {}
    from onnxruntime.transformers.optimizer import optimize_model

    optimised = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, opt_level=0)
    optimised.save_model_to_file(str(out))
    return {op: int(n) for op, n in optimised.get_fused_operator_statistics().items() if n}


def _quantise(source: Path, out: Path) -> None:
    """``source`` with int8 weights and products (see :data:`QUANTISATION`) written to ``out``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    op_types = list(QUANTISATION["op_types"])
    quantize_dynamic(source, out, op_types_to_quantize=op_types, nodes_to_exclude=[_last_attention(source)],
                     per_channel=QUANTISATION["per_channel"], reduce_range=QUANTISATION["reduce_range"],
                     weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _last_attention(graph: Path) -> str:
    """The fused ``Attention`` node of the encoder's last block: ONNX Runtime's optimiser names them
    ``Attention_<i>`` in the order of the blocks, one per block."""
    import onnx

    nodes = onnx.load(str(graph), load_external_data=False).graph.node
    attention = [n.name for n in nodes if n.op_type == "Attention"]
    blocks = {m.group(1) for n in nodes if (m := re.search(r"/layer\.(\d+)/", n.name))}
    if not attention or len(attention) != len(blocks):
        raise ExportError(f"cannot find the last block's attention in {graph.name}: {len(attention)} fused "
                          f"attention nodes for {len(blocks)} encoder blocks")
    return attention[-1]


def probe_differences(reference: Any, candidate: Any) -> dict[str, float]:
    """Largest absolute difference of ``candidate`` from ``reference`` (two models with the inference surface:
    torch and an export, or an export and its quantised graph) on :data:`PROBE_SENTENCES`: embeddings,
    probabilities of the whole graph, and probabilities of the heads on the reference's embeddings."""
    texts = list(PROBE_SENTENCES)
    expected_embedding = reference.encode(texts)
    expected = {task: reference.predict_proba_from_embeddings(expected_embedding, task) for task in reference.tasks}
    probabilities = candidate.predict_proba(texts)
    return {
        "embedding": float(np.abs(candidate.encode(texts) - expected_embedding).max()),
        "probabilities": max(float(np.abs(probabilities[t] - expected[t]).max()) for t in reference.tasks),
        "heads": max(float(np.abs(candidate.predict_proba_from_embeddings(expected_embedding, t) - expected[t]).max())
                     for t in reference.tasks),
    }


def quantise_onnx(fp32_export: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """The fp32 export folder ``fp32_export`` with int8 weights and products (:data:`QUANTISATION`), written
    (atomically, as a whole) to ``out_dir``: its graph quantised, its fp32 heads and tokenizer copied, and in
    ``mtst_onnx.json`` how far the int8 graph moved from the fp32 one on the probe sentences. Quantising the
    cached fp32 export costs a third of exporting again (no torch export, fusion or torch probe)."""
    source = Path(fp32_export)
    config = read_config(source)
    if config.get("quantisation"):
        raise ModelNotFoundError(f"{source} is already quantised; give an fp32 export (`mtst export --format onnx`)")
    reference = OnnxModel.load(source, threads=1)
    with atomic_dir(out_dir) as tmp:
        _quantise(source / MODEL_FILE, tmp / MODEL_FILE)
        shutil.copyfile(source / HEADS_FILE, tmp / HEADS_FILE)
        shutil.copytree(source / TOKENIZER_DIR, tmp / TOKENIZER_DIR)
        config = {**config, "quantisation": dict(QUANTISATION)}
        int8 = OnnxModel(tmp / MODEL_FILE, tmp / HEADS_FILE, reference.tokenizer, config, threads=1)
        config["parity"] = {**config["parity"], "int8_max_abs_diff": probe_differences(reference, int8)}
        write_json(tmp / CONFIG_FILE, config)
    return config


def export_onnx(model_dir: str | Path, out_dir: str | Path, int8: bool = False) -> dict[str, Any]:
    """Export the saved model at ``model_dir`` (or a training folder's ``model/``) to ``out_dir``; ``int8``
    quantises the encoder's weights (see :data:`QUANTISATION`). Returns the metadata written to
    ``mtst_onnx.json``. Raises :class:`ExportError`, writing nothing, when the fp32 graph misses parity
    (for ``int8``: the graph before quantisation, so quantisation error cannot hide an export error)."""
    if int8:
        with tempfile.TemporaryDirectory(prefix="mtst-onnx-fp32-") as scratch:
            export_onnx(model_dir, Path(scratch) / "fp32")
            return quantise_onnx(Path(scratch) / "fp32", out_dir)
    source = resolve_model_dir(model_dir)
    model = MultiTaskSentenceTransformer.load(source)
    model.encoder.set_attn_implementation("eager")  # the pattern ONNX Runtime's attention fusion recognises
    tasks = list(model.tasks)
    outputs = ["embedding", *output_names(tasks)]
    sample = model.tokenize(list(PROBE_SENTENCES[:2]))  # two lengths: the padded path is traced
    with atomic_dir(out_dir) as tmp, tempfile.TemporaryDirectory(prefix="mtst-onnx-") as scratch:
        work = Path(scratch)
        _export_graph(_EncoderAndHeads(model), (sample["input_ids"], sample["attention_mask"]), work / "raw.onnx",
                      ["input_ids", "attention_mask"], outputs,
                      {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                       **{name: {0: "batch"} for name in outputs}})
        fused = _optimise(work / "raw.onnx", work / "fp32.onnx", model)
        embedding = torch.from_numpy(model.encode(list(PROBE_SENTENCES[:2])))
        _export_graph(_Heads(model), (embedding,), tmp / HEADS_FILE, ["embedding"], output_names(tasks),
                      {name: {0: "batch"} for name in outputs})
        model.tokenizer.save_pretrained(tmp / TOKENIZER_DIR)
        config: dict[str, Any] = {
            "format": FORMAT, "tasks": model.tasks, "max_length": model.max_length,
            "embedding_dim": model.embedding_dim, "opset": OPSET, "inputs": ["input_ids", "attention_mask"],
            "outputs": outputs, "fused_operators": fused, "quantisation": None,
            "source": str(source.resolve()),
            "versions": {name: version(name).split("+")[0] for name in ("torch", "transformers", "onnx", "onnxruntime")},
        }
        fp32 = probe_differences(model, OnnxModel(work / "fp32.onnx", tmp / HEADS_FILE, model.tokenizer, config, threads=1))
        worst = max(fp32.values())
        if worst > PARITY_TOLERANCE:
            raise ExportError(f"the exported graph of {source} differs from torch by {worst:.2e} "
                              f"(> {PARITY_TOLERANCE:g}) on the probe sentences: {fp32}; nothing was written")
        shutil.move(work / "fp32.onnx", tmp / MODEL_FILE)  # the scratch folder may be on another filesystem
        config["parity"] = {"probe_sentences": len(PROBE_SENTENCES), "fp32_max_abs_diff": fp32}
        write_json(tmp / CONFIG_FILE, config)
    return config
