"""One task's training or validation rows as the trainer consumes them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TaskData:
    """Texts and integer labels of one task's split."""

    texts: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

