"""A step's outputs after a kill or a re-run: snapshot them, classify them, compare them with the clean run.

An output is ``previous`` (the planted one, untouched), ``new`` (the clean run's files; volatile ones whole),
``absent`` or ``partial``. A re-run must give the clean run's files byte for byte, but for volatile files,
whose JSON is compared by value without timing and identity fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtst.evaluation.flatten import flatten
from .steps import Step
from mtst.io import sha256_file

# Fields that differ between two clean runs: wall-clock measurements (ratios of them, per-task rates, and the
# serving table's reason, which quotes its ratio) and MLflow run ids.
TIMING_KEY = re.compile(r"(^|\.)(seconds|wall_s|\w*sentences_per_s(\.[^.]+)?|throughput_ratio|train_time_ratio"
                        r"|ratio_to_torch|serving\.reason)$")
IDENTITY_KEY = re.compile(r"(^|\.)(run_id|parent_run_id|stage_run_ids\.[^.]+|model_uri)$")
# Run times in file names (GX Data Docs: validations/<suite>/__none__/20261127T135102.756519Z/...): compared
# as one token, so two clean runs have the same file set.
STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z")
STAMP_TOKEN = "<time>"

Tree = dict[str, str]              # file (relative to the output; "." for a file output) -> sha256
Snapshot = dict[str, Tree | None]  # output path -> its files, None when absent


def tree(path: Path) -> Tree | None:
    if path.is_file():
        return {".": sha256_file(path)}
    if not path.is_dir():
        return None
    return {STAMP.sub(STAMP_TOKEN, str(p.relative_to(path))): sha256_file(p)
            for p in sorted(path.rglob("*")) if p.is_file()}


def snapshot(root: Path, outputs: Iterable[str]) -> Snapshot:
    return {out: tree(root / out) for out in outputs}


def _file(root: Path, output: str, name: str) -> Path:
    if name == ".":
        return root / output
    if STAMP_TOKEN in name:
        return next((root / output).glob(name.replace(STAMP_TOKEN, "*")))
    return root / output / name


def _label(output: str, name: str) -> str:
    return output if name == "." else f"{output}/{name}"


def complete(path: Path) -> bool:
    """A volatile file is whole: JSON parses, a PNG ends with its IEND chunk, HTML closes, others are non-empty."""
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            json.loads(data)
        except ValueError:
            return False
        return True
    if path.suffix == ".png":
        return data.endswith(b"IEND\xaeB`\x82")
    if path.suffix == ".html":
        return b"</html>" in data[-200:].lower()
    return len(data) > 0


def is_new(step: Step, root: Path, output: str, current: Tree, reference: Tree) -> bool:
    """``current`` is a complete output of this step: the clean run's files, the volatile ones whole."""
    if set(current) != set(reference):
        return False
    for name, digest in current.items():
        if digest == reference[name]:
            continue
        if not (step.is_volatile(_label(output, name)) and complete(_file(root, output, name))):
            return False
    return True


def classify(step: Step, root: Path, current: Snapshot, previous: Snapshot | None,
             reference: Snapshot) -> dict[str, str]:
    """Each output's state after a kill: ``absent``, ``previous``, ``new`` or ``partial``."""
    states = {}
    for output, files in current.items():
        if files is None:
            states[output] = "absent"
        elif previous is not None and files == previous.get(output):
            states[output] = "previous"
        elif is_new(step, root, output, files, reference[output] or {}):
            states[output] = "new"
        else:
            states[output] = "partial"
    return states


def loose_key(key: str) -> bool:
    """A field whose value differs between two clean runs: a timing or an MLflow identity."""
    return bool(TIMING_KEY.search(key) or IDENTITY_KEY.search(key))


def json_differences(reference: Path, current: Path) -> list[str]:
    """Flattened keys whose values differ, timing and identity fields aside."""
    def values(path: Path) -> dict[str, Any]:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in flatten(obj if isinstance(obj, dict) else {"": obj}).items() if not loose_key(k)}

    a, b = values(reference), values(current)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, "<missing>") != b.get(k, "<missing>"))


@dataclass
class Rerun:
    """How a re-run after a kill compares with the clean run."""

    identical_files: bool = True                            # every non-volatile file byte-identical
    differing_files: list[str] = field(default_factory=list)
    metric_differences: list[str] = field(default_factory=list)  # "<file>: <key>" beyond timings and ids
    volatile_bytes: list[str] = field(default_factory=list)      # volatile files whose bytes differ (expected)


def compare_rerun(step: Step, root: Path, reference_copy: Path, reference: Snapshot, current: Snapshot) -> Rerun:
    result = Rerun()
    for output, ref in reference.items():
        cur = current.get(output)
        if cur is None or ref is None:
            if cur != ref:
                result.identical_files = False
                result.differing_files.append(output)
            continue
        for name in sorted(ref.keys() | cur.keys()):
            label = _label(output, name)
            if ref.get(name) == cur.get(name):
                continue
            if name not in ref or name not in cur or not step.is_volatile(label):
                result.identical_files = False
                result.differing_files.append(label)
            elif label.endswith(".json"):
                result.volatile_bytes.append(label)
                diffs = json_differences(_file(reference_copy, output, name), _file(root, output, name))
                result.metric_differences += [f"{label}: {k}" for k in diffs]
            else:
                result.volatile_bytes.append(label)
    return result
