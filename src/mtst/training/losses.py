"""Per-task loss weighting: static weights, or learned homoscedastic-uncertainty weights."""

from __future__ import annotations

import torch
from torch import nn


class TaskLossWeighting(nn.Module):
    """``weighted(task, loss)`` returns the loss to back-propagate.

    static: ``w_t * L_t``. uncertainty (Kendall, Gal & Cipolla 2018): ``exp(-s_t) * L_t + s_t`` with a
    learned ``s_t = log σ_t²`` per task, so noisier tasks are down-weighted automatically. A curriculum
    multiplies either form by its current factor for the task.
    """

    def __init__(self, tasks: list[str], mode: str, weights: dict[str, float]) -> None:
        super().__init__()
        self.mode = mode
        self.static = {t: float(weights.get(t, 1.0)) for t in tasks}
        self.log_vars = nn.ParameterDict({t: nn.Parameter(torch.zeros(())) for t in tasks}) if mode == "uncertainty" else None

    def weighted(self, task: str, loss: torch.Tensor, factor: float = 1.0) -> torch.Tensor:
        if self.log_vars is None:
            return factor * self.static[task] * loss
        s = self.log_vars[task]
        return factor * (torch.exp(-s) * loss + s)

    def effective_weights(self) -> dict[str, float]:
        if self.log_vars is None:
            return dict(self.static)
        return {t: float(torch.exp(-s).detach()) for t, s in self.log_vars.items()}
