"""What a score was measured on, as one digest of the test rows: scores from different runs are compared only
when they were computed on equal test data (the registry's promotion rule, the comparison's runs over seeds)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping


def rows_digest(split: str, rows: Mapping[str, Iterable[tuple[str, str]]]) -> str | None:
    """sha256 over the split name and the sorted (task, id, label) of every test row; None when a task has none."""
    digest = hashlib.sha256(f"split={split}\n".encode())
    for task in sorted(rows):
        pairs = sorted(rows[task])
        if not pairs:
            return None
        digest.update("".join(f"{task}\t{i}\t{label}\n" for i, label in pairs).encode())
    return digest.hexdigest()
