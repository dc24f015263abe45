"""``train.bf16: auto``: bf16 autocast where the hardware multiplies bf16 natively, fp32 elsewhere.

On a CPU with AVX512-BF16 (or AMX) an encoder training step in bf16 autocast is faster than fp32
(``benchmarks/train_speed.py`` measures it); on one without, bf16 is emulated and slower, so ``auto`` stays in fp32
there. On a GPU, ``auto`` follows ``torch.cuda.is_bf16_supported()``. The resolved value is what the
training summary records (``params.train.bf16``), so a run says which precision it trained in.
"""

from __future__ import annotations

from typing import Literal

import torch

from mtst.cpu import has_bf16


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 matrix products in hardware."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return has_bf16()  # AVX512-BF16 or AMX, within ONEDNN_MAX_CPU_ISA (mtst.cpu)
    return False


def resolve_bf16(setting: bool | Literal["auto"], device: torch.device) -> bool:
    """``train.bf16`` as a yes / no for this device: ``auto`` means :func:`native_bf16`."""
    return native_bf16(device) if setting == "auto" else bool(setting)
