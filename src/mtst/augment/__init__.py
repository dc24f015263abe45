"""Task B augmentation with EDA (Wei & Zou, 2019): more training text for the scarce task, never touching
its validation or test split, and never deleting, replacing or moving negations and sentiment words.

- ``eda``: the four operations (synonym replacement, random insertion, random swap, random deletion);
- ``protect``: the protected-word rule, built from VADER's own lexicon, negations and boosters;
- ``wordnet``: finding / installing the Debian WordNet 3.0 for nltk.

This ``__init__`` stays import-light (``mtst.errors`` imports ``wordnet``); ``augment_rows`` lives here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtst.augment.eda import Synonyms
    from mtst.augment.protect import Protector
    from mtst.config import AugmentParams


def enabled_ops(params: AugmentParams) -> list[str]:
    """The operations with ``copies > 0`` and ``rate > 0``, in EDA's order."""
    from mtst.augment.eda import OPS

    return [op for op in OPS if getattr(params, op).copies > 0 and getattr(params, op).rate > 0]


def augment_rows(records: list[dict[str, Any]], params: AugmentParams, protector: Protector,
                 synonyms: Synonyms | None, taken: set[str],
                 progress: bool | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Augmented rows for the training ``records`` (not including them) and per-operation statistics.

    ``taken`` holds every text that must not be produced (train, validation and test texts); it grows with
    each new row, so there are no duplicates and no leakage. A copy whose attempts all give an existing
    text (or no change) is skipped and counted.
    """
    from tqdm.auto import tqdm

    from mtst.augment.eda import augment_text, rng_for

    ops = enabled_ops(params)
    stats: dict[str, dict[str, int]] = {op: {"created": 0, "skipped": 0} for op in ops}
    rows: list[dict[str, Any]] = []
    disable = None if progress is None else not progress  # None: a bar only on a terminal
    for record in tqdm(records, desc="augment task_b/train", unit="row", disable=disable):
        source_id = str(record["id"])
        k = 0
        for op in ops:
            settings = getattr(params, op)
            for copy in range(settings.copies):
                for attempt in range(params.max_tries):
                    rng = rng_for(params.seed, source_id, op, copy, attempt)
                    text = augment_text(str(record["text"]), op, settings.rate, rng, protector, synonyms)
                    if text.strip() and text not in taken:
                        break
                else:
                    stats[op]["skipped"] += 1
                    continue
                taken.add(text)
                rows.append({**record, "id": f"{source_id}~aug{k}", "text": text, "source_id": source_id,
                             "augmentation": op})
                stats[op]["created"] += 1
                k += 1
    return rows, stats
