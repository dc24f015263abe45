"""DAG node ``augment``: EDA augmentation of the Task B training split (validation and test are only read,
to make sure no augmented text equals one of theirs).

Outputs (written atomically; nothing when anything fails):

- ``<out>/task_b/train.jsonl``: every original training row (``source_id`` = its own id, ``augmentation``
  null) followed by the augmented rows (id ``<source_id>~aug<k>``, ``source_id``, ``augmentation`` = the
  operation), all with the original columns (id, text, label, group, split, domain, rating);
- ``<out>/summary.json``: counts per operation, a few sample rows per operation, the protected-word rule's
  settings and the result of the output check (no timings: a rerun writes the same bytes, so DVC does not
  retrain the variants downstream after an interrupted ``dvc repro``).

Before anything is written, the augmented split is checked with the same GX suites as ``mtst validate``
(the rules augmentation can break: no null / empty text, no control characters, labels in the label set the
split files were prepared with, no duplicate text or id, and no text or article shared with validation or test).

The protected-word rule (``mtst.augment.protect``: VADER's sentiment words, negations and boosters are locked)
applies whatever Task B's labels are called or how many there are: it reads the text, never the label names, and
Task B is the sentiment task (``data.sentiment``). Were a file's classes not sentiment, a locked word only leaves an
augmented sentence closer to its source (fewer edits), never with a wrong label.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mtst.augment import augment_rows, enabled_ops
from mtst.augment.eda import WORDNET_OPS, Synonyms
from mtst.augment.protect import Protector, load_vader_lexicon
from mtst.config import AugmentParams, ValidateParams
from mtst.data import SUMMARY
from mtst.data.datasets import split_path, task_labels
from mtst.data.files import read_table
from mtst.io import atomic_dir, write_json, write_jsonl
from mtst.dag import LAYOUT

TASK = "task_b"
SAMPLES_PER_OP = 3


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: NaN (a missing optional column in pandas) becomes null."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}


def read_rows(splits_dir: str | Path, split: str) -> list[dict[str, Any]]:
    """A Task B split's rows exactly as written (``json`` parsing: floats round-trip unchanged)."""
    frame = read_table(split_path(splits_dir, TASK, split), required=("id", "text", "label"))
    return [_clean(r) for r in frame.to_dict(orient="records")]


def check_output(rows: list[dict[str, Any]], splits_dir: str | Path,
                 work_dir: str | Path | None = None) -> dict[str, Any]:
    """Validate the augmented training rows against the validation and test splits (raises on failure).
    ``work_dir``: the unfinished output folder, where GX's scratch copies go."""
    import pandas as pd

    from mtst.validation import Table, ValidationFailed, check, failures_of
    from mtst.validation.checkpoint import AUGMENT_RULES
    from mtst.validation.tables import PIPELINE_COLUMNS, read

    train = Table(name="augmented/task_b/train", path="augmented task_b/train.jsonl", task=TASK, dataset="augmented",
                  frame=pd.DataFrame(rows), required=PIPELINE_COLUMNS, split="train")
    others = [read(Path(splits_dir) / TASK / f"{split}.jsonl", TASK, "augmented", f"augmented/splits/{split}",
                   split=split) for split in ("validation", "test")]
    for table in others:
        table.context_only = True
    report = check([train, *others], ValidateParams(), rules=AUGMENT_RULES, work_dir=work_dir,
                   labels={TASK: task_labels(splits_dir, TASK)})  # the prepared data's labels: none added or renamed
    if not report["success"]:
        raise ValidationFailed(failures_of(report))
    return {"success": True, "expectations": report["expectations"]}  # no timing: reruns give identical bytes


def run(params: AugmentParams, splits_dir: str | Path, out_dir: str | Path = LAYOUT.augmented,
        progress: bool | None = None) -> dict[str, Any]:
    train = read_rows(splits_dir, "train")
    taken = {r["text"] for r in train}
    for split in ("validation", "test"):
        taken |= {r["text"] for r in read_rows(splits_dir, split)}
    ops = enabled_ops(params)
    synonyms = None
    protector = Protector(load_vader_lexicon(), params.sentiment_min_valence, params.negation_window)
    if set(ops) & set(WORDNET_OPS):
        from mtst.augment.wordnet import load_wordnet

        synonyms = Synonyms(load_wordnet(), protector)  # raises WordNetMissing with how to install it
    new_rows, stats = augment_rows(train, params, protector, synonyms, taken, progress=progress)
    originals = [{**r, "source_id": r["id"], "augmentation": None} for r in train]
    rows = originals + new_rows
    source_text = {r["id"]: r["text"] for r in train}
    summary: dict[str, Any] = {
        "task": TASK,
        "source_rows": len(originals),
        "augmented_rows": len(new_rows),
        "total_rows": len(rows),
        "operations": {op: {**stats[op], "rate": getattr(params, op).rate, "copies": getattr(params, op).copies}
                       for op in ops},
        "samples": {op: [{"source_id": r["source_id"], "source_text": source_text[r["source_id"]],
                          "text": r["text"], "label": r["label"]}
                         for r in [r for r in new_rows if r["augmentation"] == op][:SAMPLES_PER_OP]]
                    for op in ops},
        "protected_words": {"sentiment_min_valence": params.sentiment_min_valence,
                            "negation_window": params.negation_window,
                            "sentiment_words": len(protector.sentiment_words),
                            "negations": len(protector.lexicon.negations),
                            "boosters": len(protector.lexicon.boosters)},
        "seed": params.seed,
    }
    with atomic_dir(out_dir) as tmp:
        if params.validate_output:  # a failed check raises here, and the folder is never renamed into place
            summary["output_check"] = check_output(rows, splits_dir, work_dir=tmp)
        write_jsonl(tmp / TASK / "train.jsonl", rows)
        write_json(tmp / SUMMARY, summary)
    return summary
