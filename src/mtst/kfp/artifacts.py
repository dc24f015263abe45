"""Artifact folders as the steps expect them: collected evaluations as ``<dir>/<variant>`` (the DVC
layout), the models follow-up variants start from, and small file helpers for the components."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mtst.config import ConfigError
from mtst.names import child
from mtst.plan import model_dir


def stage_by_variant(artifacts: Iterable[Any], dest: str | Path) -> list[Path]:
    """Link each collected evaluation artifact as ``<dest>/<variant>`` (its ``variant`` metadata), so the
    compare step sees the same ``eval_dirs`` layout as the DVC path, whatever the artifact URIs are."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dirs: list[Path] = []
    for i, artifact in enumerate(artifacts):
        variant = str((artifact.metadata or {}).get("variant") or f"variant_{i}")
        target = child(dest, variant, "kfp artifact metadata variant")
        try:
            os.symlink(Path(artifact.path).resolve(), target, target_is_directory=True)
        except OSError:
            shutil.copytree(artifact.path, target)
        dirs.append(target)
    return dirs


def collect_init_models(followups: Iterable[Mapping[str, str]], models: Iterable[Any], dest: str | Path) -> list[str]:
    """Copy the model of each collected train artifact that a follow-up starts from (``followups``: the
    pipeline's ``followup_variants`` items, ``{"variant", "init_from"}``) to ``<dest>/<source>/model``
    (``mtst.plan.model_dir``); return the variants copied."""
    sources = {item["init_from"] for item in followups}
    copied = []
    Path(dest).mkdir(parents=True, exist_ok=True)
    for artifact in models:
        variant = (artifact.metadata or {}).get("variant")
        if variant in sources:
            shutil.copytree(Path(artifact.path) / "model", model_dir(dest, variant))  # the train folder's model
            copied.append(variant)
    return sorted(copied)


def init_model_dir(variant: str, init_from: str, init_models: Any | None) -> Path | None:
    """The model folder ``variant`` starts from inside the ``collect_init_models`` artifact; None when it
    trains from the pretrained encoder (``init_from`` empty)."""
    if not init_from:
        return None
    if init_models is None:
        raise ConfigError(f"variant {variant!r} starts from {init_from!r}, but the task got no init_models")
    path = model_dir(init_models.path, init_from)
    if not path.exists():
        raise ConfigError(f"variant {variant!r} starts from {init_from!r}, but {path} does not exist")
    return path


def scratch_dir(name: str) -> Path:
    """A private temporary folder (checkpoints, staging) outside the artifact folders KFP uploads."""
    return Path(tempfile.mkdtemp(prefix=f"mtst-{name}-"))


def copy_file(src: str | Path, dst: str | Path) -> None:
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def read_json(folder: str | Path, name: str) -> Any:
    """``<folder>/<name>`` parsed; ``{}`` when the step did not write it."""
    path = Path(folder) / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def find_file(folder: str | Path, name: str) -> Path:
    """``<folder>/<name>``, or the shallowest file of that name below it."""
    folder = Path(folder)
    if (folder / name).is_file():
        return folder / name
    found = sorted(folder.rglob(name), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"{name} not found under {folder}")
    return found[0]
