"""Names that become path components, checked in one place before any file is written or removed.

A variant's name is a folder name (``artifacts/train/<variant>``, a kfp task's checkpoints on a shared volume,
compare's downloads of earlier runs), and it arrives from places mtst does not control: params.yaml, a command
line, a kfp artifact's metadata, an MLflow tag any writer of the tracking store can set. A name like ``../x``
or ``a/b`` would put those files elsewhere, or have a clean-up remove someone else's folder, so every such name
passes :func:`checked` (one pattern, no ``.`` or ``..``) and every path built from one passes :func:`child`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
RULE = "letters, digits, '_', '.' and '-' only, and not '.' or '..'"


def _error(message: str) -> Exception:
    # mtst.config imports the params schema, which uses this module: ConfigError is looked up when raised
    from mtst.config import ConfigError

    return ConfigError(message)


def checked(name: object, what: str = "variant name") -> str:
    """``name`` when it is one safe path component; else a ConfigError saying ``what`` it is and the rule."""
    if not isinstance(name, str) or not PATTERN.fullmatch(name) or name in (".", ".."):
        raise _error(f"{what} {name!r} is not a safe folder name: {RULE}")
    return name


def child(root: str | Path, name: object, what: str = "variant name") -> Path:
    """``root / name`` after :func:`checked`; refused also when it resolves outside ``root`` (a symlink planted
    at ``root / name``), so what is written or removed there stays under ``root``."""
    path = Path(root) / checked(name, what)
    real_root = os.path.realpath(root)
    if os.path.dirname(os.path.realpath(path)) != real_root:
        raise _error(f"{what} {name!r}: {path} resolves to {os.path.realpath(path)}, outside {real_root}; "
                     "remove that link")
    return path


VariantName = Annotated[str, AfterValidator(checked)]
"""A variant name in a pydantic model (params.yaml): refused at load, with the key that holds it."""
