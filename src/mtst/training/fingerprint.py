"""What a checkpoint was trained with, so a resume with other settings or other data stops instead of
silently mixing two runs.

The fingerprint holds the effective parameters that shape the weights — the variant, the ``train`` section
(without the operational keys in :data:`OPERATIONAL`) and the ``model`` section — flattened to
``section.key: value``, and one digest per task of the training and validation rows. On a mismatch the
error names each differing key (old → new) or task.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from mtst.io import sha256_file

OPERATIONAL = frozenset({"variants", "threads", "checkpoint_every", "device", "eval_batch_size"})
"""``train`` keys that change how a run is executed, not what it computes: they may differ on resume."""


class FingerprintMismatch(ValueError):
    """Resume refused: the checkpoint was trained with other parameters or data."""


def _flatten(obj: Any, prefix: str) -> dict[str, str]:
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}.{key}"))
        return out
    return {prefix: json.dumps(obj, sort_keys=True, default=str)}


def data_digest(texts: list[str], labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels.tolist(), strict=True):
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(f"\0{label}\n".encode())
    return digest.hexdigest()


def folder_digest(folder: Path) -> str:
    """Digest of a saved model's weight files (a follow-up variant's starting point)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.safetensors")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def fingerprint(variant_name: str, variant: dict[str, Any], train: dict[str, Any], model: dict[str, Any],
                data: dict[str, str]) -> dict[str, str]:
    """The flat mapping stored in every checkpoint (small: tens of keys)."""
    train = {k: v for k, v in train.items() if k not in OPERATIONAL}
    return {"variant.name": json.dumps(variant_name), **_flatten(variant, "variant"), **_flatten(train, "train"),
            **_flatten(model, "model"), **{f"data.{key}": value for key, value in data.items()}}


SEED_KEY = "train.seed"


def recipe(mapping: dict[str, str]) -> str:
    """A fingerprint without the seed, as one digest: two runs with equal recipes trained the same variant with
    the same settings on the same rows, and differ only by ``train.seed`` (the comparison's runs over seeds)."""
    items = sorted((k, v) for k, v in mapping.items() if k != SEED_KEY)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def check(saved: dict[str, str] | None, current: dict[str, str], where: str) -> None:
    """Raise :class:`FingerprintMismatch` naming every difference between ``saved`` and ``current``."""
    if saved is None:
        raise FingerprintMismatch(f"{where}: the checkpoint records no fingerprint (written by an older mtst); "
                                  "start afresh without --resume")
    keys = sorted(set(saved) | set(current))
    changed = [key for key in keys if saved.get(key) != current.get(key)]
    if not changed:
        return
    lines = []
    for key in changed[:20]:
        if key.startswith("data."):
            lines.append(f"  {key}: the rows differ from those the checkpoint trained on")
        else:
            lines.append(f"  {key}: {saved.get(key, '(absent)')} in the checkpoint, {current.get(key, '(absent)')} now")
    more = f"\n  … and {len(changed) - 20} more" if len(changed) > 20 else ""
    raise FingerprintMismatch(f"{where}: cannot resume, the checkpoint was trained with other settings or data:\n"
                              + "\n".join(lines) + more +
                              "\nresume with the same params and data, or start afresh without --resume")
