"""``MultiTaskSentenceTransformer``: one shared sentence-transformers encoder, one head per task, and a freezing
API that reads like the training plan it implements (``freeze_encoder()``, ``unfreeze_top_layers(2)``,
``freeze_head("task_a")``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mtst.contracts.training import MODEL_CONFIG as CONFIG_FILE
from mtst.io import atomic_dir
from mtst.model.encoder import backbone, build_sentence_encoder
from mtst.model.heads import make_head

HEADS_FILE = "heads.safetensors"
ENCODER_DIR = "encoder"


class MultiTaskSentenceTransformer(nn.Module):
    """``body`` (a ``SentenceTransformer``: Transformer → mean Pooling → Normalize) → ``heads[task]``.

    ``tasks`` maps a task name to its label list, e.g. ``{"task_a": ["business", ...], "task_b": [...]}``.
    ``encoder`` is the Hugging Face backbone inside ``body``: the part the freezing API trains block by block.
    """

    def __init__(self, tasks: dict[str, Sequence[str]], encoder: str | Path | None = None, head: str = "linear",
                 head_hidden: int = 256, head_dropout: float = 0.1, max_length: int = 128,
                 encoder_dropout: float | None = None) -> None:
        super().__init__()
        self.body = build_sentence_encoder(encoder, encoder_dropout, max_length)
        self.tasks = {name: list(labels) for name, labels in tasks.items()}
        self.head_config = {"head": head, "head_hidden": head_hidden, "head_dropout": head_dropout}
        self.max_length = max_length
        dim = self.encoder.config.hidden_size
        self.heads = nn.ModuleDict({
            name: make_head(head, dim, len(labels), head_hidden, head_dropout) for name, labels in self.tasks.items()
        })

    @property
    def encoder(self) -> PreTrainedModel:
        return backbone(self.body)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self.body.tokenizer

    # ---- forward -------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @property
    def embedding_dim(self) -> int:
        return int(self.encoder.config.hidden_size)

    def tokenize(self, texts: Sequence[str], max_length: int | None = None, padding: bool | str = True) -> dict[str, torch.Tensor]:
        """Dynamic padding by default: pad to the longest sentence in the batch, not to ``max_length``."""
        return self.tokenizer(list(texts), padding=padding, truncation=True, max_length=max_length or self.max_length,
                              return_tensors="pt")

    def embed_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids → L2-normalised sentence embeddings, through the sentence-transformers modules."""
        return self.body({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, tasks: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Logits per task (all tasks by default) for one tokenised batch."""
        embeddings = self.embed_tokens(input_ids, attention_mask)
        return {task: self.heads[task](embeddings) for task in (tasks or self.tasks)}

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Sentences → normalised embeddings, sorted by length internally so padding stays small."""
        was_training = self.training
        self.eval()
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.embedding_dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="embed", unit="batch", disable=not show_progress):
            idx = order[start:start + batch_size]
            batch = self.tokenize([texts[i] for i in idx])
            embedded = self.embed_tokens(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))
            out[idx] = embedded.float().cpu().numpy()
        self.train(was_training)
        return out

    @torch.inference_mode()
    def predict_proba_from_embeddings(self, embeddings: np.ndarray | torch.Tensor, task: str) -> np.ndarray:
        was_training = self.training
        self.eval()
        tensor = torch.as_tensor(embeddings, dtype=torch.float32, device=self.device)
        probs = torch.softmax(self.heads[task](tensor), dim=-1).cpu().numpy()
        self.train(was_training)
        return probs

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> dict[str, np.ndarray]:
        embeddings = self.encode(texts, batch_size, show_progress)
        return {task: self.predict_proba_from_embeddings(embeddings, task) for task in self.tasks}

    # ---- freezing API --------------------------------------------------------------------------------
    @property
    def encoder_layers(self) -> list[nn.Module]:
        """Transformer blocks, bottom to top."""
        return list(self.encoder.encoder.layer)

    def freeze_encoder(self) -> MultiTaskSentenceTransformer:
        self.encoder.requires_grad_(False)
        return self

    def unfreeze_encoder(self) -> MultiTaskSentenceTransformer:
        self.encoder.requires_grad_(True)
        return self

    def unfreeze_top_layers(self, k: int) -> MultiTaskSentenceTransformer:
        """Encoder frozen except its top ``k`` transformer blocks; ``k`` above the depth also thaws embeddings."""
        self.freeze_encoder()
        layers = self.encoder_layers
        for layer in layers[max(len(layers) - k, 0):]:
            layer.requires_grad_(True)
        if k > len(layers):
            self.encoder.embeddings.requires_grad_(True)
        return self

    def freeze_head(self, task: str) -> MultiTaskSentenceTransformer:
        self.heads[task].requires_grad_(False)
        return self

    def unfreeze_head(self, task: str) -> MultiTaskSentenceTransformer:
        self.heads[task].requires_grad_(True)
        return self

    def encoder_is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.encoder.parameters())

    def trainable_parameter_names(self) -> list[str]:
        return [name for name, p in self.named_parameters() if p.requires_grad]

    def encoder_depth_groups(self) -> list[list[nn.Parameter]]:
        """Encoder parameters grouped by depth from the top: ``[top block, ..., bottom block, embeddings]``,
        for discriminative learning rates (``lr * decay ** depth``)."""
        groups = [list(layer.parameters()) for layer in reversed(self.encoder_layers)]
        groups.append(list(self.encoder.embeddings.parameters()))
        return groups

    # ---- persistence ---------------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "max_length": self.max_length, **self.head_config}

    def save(self, path: str | Path) -> None:
        """``path/encoder`` is a sentence-transformers directory (``SentenceTransformer.save``); heads go to
        safetensors. Atomic as a whole.

        The tokenizer is saved in one state, whatever it encoded last: its fast backend keeps the padding and
        truncation of its last call, so the same training would otherwise save other bytes after a cold
        embedding cache (it tokenized, padded) than after a warm one (it did not). Every call sets both again,
        so the saved state changes no answer."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            backend.no_padding()
            backend.enable_truncation(max_length=self.max_length)
        with atomic_dir(path) as tmp:
            self.body.save(str(tmp / ENCODER_DIR), create_model_card=False)
            heads = {k: v.detach().cpu().contiguous() for k, v in self.heads.state_dict().items()}
            save_file(heads, str(tmp / HEADS_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(self.config_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> MultiTaskSentenceTransformer:
        path = Path(path)
        if not (path / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{path} is not a saved mtst model (no {CONFIG_FILE})")
        config = json.loads((path / CONFIG_FILE).read_text())
        model = cls(config["tasks"], encoder=path / ENCODER_DIR, head=config["head"], head_hidden=config["head_hidden"],
                    head_dropout=config["head_dropout"], max_length=config["max_length"])
        model.heads.load_state_dict(load_file(str(path / HEADS_FILE)))
        model.eval()
        return model
