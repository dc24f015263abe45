"""Process-group helpers so the same trainer runs alone or under ``torchrun``.

Every rank draws the same task at each step (the sampler is a function of the step), takes its own
slice of the global batch, and gradients are averaged weighted by rows, so N processes compute the same
update as one process with the same global batch. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1

    @classmethod
    def single(cls) -> Distributed:
        return cls()

    @classmethod
    def from_env(cls) -> Distributed:
        """Join the process group torchrun describes in the environment (gloo on CPU, NCCL on GPU)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls.single()
        if not dist.is_initialized():
            if torch.cuda.is_available():
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def device(self) -> torch.device:
        """This rank's device: its own GPU (LOCAL_RANK) where there are GPUs, else the CPU."""
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        return torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, *modules: nn.Module, local_rows: int) -> None:
        """Sum row-weighted gradients over ranks: equals the gradient of the mean loss over the global batch."""
        if self.world_size == 1:
            return
        rows = torch.tensor([float(local_rows)], device=self.device)
        dist.all_reduce(rows)
        for module in modules:
            for param in module.parameters():
                if param.requires_grad and param.grad is not None:
                    param.grad.mul_(local_rows / rows.item())
                    dist.all_reduce(param.grad)

    def mean(self, value: float, rows: int) -> float:
        """Row-weighted mean of a per-rank mean (ranks may hold unequal shares of the last batch)."""
        if self.world_size == 1:
            return value
        tensor = torch.tensor([value * rows, float(rows)], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor[0] / tensor[1])

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
