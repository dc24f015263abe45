"""Training checkpoints: weights (safetensors) plus optimiser, scheduler, sampler, loss-weight and RNG
state, written atomically and fsync'ed so a run killed at any instant resumes from the last complete one.

The encoder's weights (nearly all of the bytes) and the rest (heads) are two files. A stage that trains heads on
cached embeddings leaves the encoder as the previous checkpoint saved it, so its checkpoints hard-link that
file instead of writing and fsync'ing it again (``benchmarks/pipeline_levers.py`` times a checkpoint).

A checkpoint also records the fingerprint of what it was trained with (:mod:`mtst.training.fingerprint`);
``load_checkpoint`` loads plain tensors and containers only (``torch.load(weights_only=True)``), so a
checkpoint folder from elsewhere cannot run code on load.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mtst.contracts.training import HISTORY
from mtst.io import atomic_dir, recover

ENCODER_WEIGHTS = "encoder.safetensors"
OTHER_WEIGHTS = "heads.safetensors"
ENCODER_PREFIX = "body."  # state_dict keys of the sentence-transformers encoder
STATE = "state.pt"


def save_checkpoint(directory: Path, model: torch.nn.Module, state: dict[str, Any], history: list[dict[str, Any]],
                    encoder_unchanged: bool = False) -> None:
    """Write the checkpoint; ``encoder_unchanged``: the encoder's weights are the ones ``directory`` holds."""
    weights = model.state_dict()
    encoder = {k: v for k, v in weights.items() if k.startswith(ENCODER_PREFIX)}
    with atomic_dir(directory) as tmp:
        if encoder_unchanged and (directory / ENCODER_WEIGHTS).is_file():
            os.link(directory / ENCODER_WEIGHTS, tmp / ENCODER_WEIGHTS)
        else:
            _save(encoder, tmp / ENCODER_WEIGHTS)
        _save({k: v for k, v in weights.items() if k not in encoder}, tmp / OTHER_WEIGHTS)
        torch.save({**state, "rng": rng_state()}, tmp / STATE)
        (tmp / HISTORY).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in history))


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(path))


def has_checkpoint(directory: Path) -> bool:
    """Whether ``directory`` holds a complete checkpoint (after repairing what a kill mid-write left)."""
    recover(directory)
    return (directory / STATE).is_file()


def read_state(directory: Path) -> dict[str, Any]:
    """The checkpoint's state (counters, fingerprint, optimiser …) without touching a model."""
    return torch.load(directory / STATE, weights_only=True, map_location="cpu")


def load_checkpoint(directory: Path, model: torch.nn.Module) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    model.load_state_dict({**load_file(str(directory / ENCODER_WEIGHTS)), **load_file(str(directory / OTHER_WEIGHTS))})
    state = read_state(directory)
    history = [json.loads(line) for line in (directory / HISTORY).read_text().splitlines() if line]
    return state, history


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """``random.setstate`` wants tuples; a weights-only load may hand back lists."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
