"""Task heads on top of the sentence embedding: a linear probe or a small MLP."""

from __future__ import annotations

from torch import nn


def make_head(kind: str, in_dim: int, n_classes: int, hidden: int = 256, dropout: float = 0.1) -> nn.Module:
    if kind == "linear":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, n_classes))
    if kind == "mlp":
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                             nn.Linear(hidden, n_classes))
    raise ValueError(f"unknown head kind {kind!r}; use 'linear' or 'mlp'")
