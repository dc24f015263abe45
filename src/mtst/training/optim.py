"""Optimiser and schedule for one stage: discriminative learning rates and linear warmup/decay."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.optim import AdamW
from torch.optim.lr_scheduler import LambdaLR

from mtst.model import MultiTaskSentenceTransformer
from mtst.training.schema import StageParams


def build_optimizer(model: MultiTaskSentenceTransformer, stage: StageParams, extra: nn.Module | None = None,
                    include_encoder: bool = True) -> AdamW:
    """Heads (and learned loss weights) at ``lr_head``; encoder block at depth d from the top at
    ``lr_encoder * layer_decay ** d``, embeddings deepest. Groups exist for every block even while frozen,
    so gradual unfreezing only flips ``requires_grad`` (AdamW skips parameters without gradients). The fused
    AdamW kernel on CPU and CUDA: the update of the encoder's parameters in one pass instead of a loop per
    parameter (``benchmarks/pipeline_levers.py`` measures the difference)."""
    groups = [{"name": "heads", "params": [p for h in model.heads.values() for p in h.parameters()],
               "lr": stage.lr_head, "weight_decay": stage.weight_decay}]
    if extra is not None and list(extra.parameters()):
        groups.append({"name": "loss_weights", "params": list(extra.parameters()), "lr": stage.lr_head, "weight_decay": 0.0})
    if include_encoder:
        for depth, params in enumerate(model.encoder_depth_groups()):
            groups.append({"name": f"encoder_{depth}", "params": params,
                           "lr": stage.lr_encoder * stage.layer_decay ** depth, "weight_decay": stage.weight_decay})
    return AdamW(groups, fused=model.device.type in ("cpu", "cuda"))


def warmup_linear(total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """LR factor at each step: ``(step + 1) / warmup`` while warming up, then linear decay to 0 at ``total_steps``.

    Not ``transformers.get_linear_schedule_with_warmup``: that one's warmup is ``step / warmup``, so it spends
    the first step at lr 0 and runs one step behind this schedule through the warmup (the decay is the same).
    Switching would change every trained variant that warms up (tests/test_training.py pins both facts)."""
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


def build_scheduler(optimizer: AdamW, total_steps: int, warmup_ratio: float) -> LambdaLR:
    """The stage's schedule: :func:`warmup_linear` scaling every parameter group's learning rate."""
    return LambdaLR(optimizer, warmup_linear(total_steps, warmup_ratio))
