"""Every ``MTST_*`` environment setting, declared once: its name, type, default and what it changes.

A field ``x`` of ``Environment`` is the variable ``MTST_X`` (``env_name``); ``NAMES`` lists them all, for the
docs and for anything that forwards the settings to a child process. Settings are read when they are used
(``Environment.current()``), never at import, so a test's ``monkeypatch.setenv`` or a parent process's
environment takes effect without reloading anything. An empty variable counts as unset, and a value that does
not parse is a ``ConfigError`` naming the variable and the value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from mtst import __version__
from mtst.config import ConfigError

PREFIX = "MTST_"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


class Environment(BaseModel):
    """The ``MTST_*`` settings in force. Field docstrings say what each one changes (``describe`` lists them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_file_bytes: int = 1 << 30
    """The most bytes a user file may hold on disk, and its needed Parquet columns decode to; a number of bytes
    (``500000000``) or one with a unit (``500M``, ``2G``). A bigger file is refused before it is read."""
    source_cache: Path = Path(".cache/sources")
    """Where the pinned source archives (BBC News, VADER) are downloaded to and read from."""
    embedding_cache: Path = Path(".cache/embeddings")
    """Where the frozen encoder's sentence embeddings are cached, shared by variants, runs and the learning curve."""
    onnx_cache: Path = Path(".cache/onnx")
    """Where a torch model's exports for the other backends are cached (one per model, kind and settings)."""
    failpoints: dict[str, int] = {}
    """Kill this process at named points, for crash-recovery tests: ``train.step=17,io.between_renames=3`` sends
    SIGKILL the 17th time training passes ``train.step`` (``mtst.failpoints``); a point without ``=N`` dies on
    its first pass."""
    kfp_image: str = f"mtst:{__version__}-cuda"
    """The image every Kubeflow Pipelines component runs in, unless ``mtst kfp compile --image`` names one."""
    kfp_token: SecretStr | None = None
    """The bearer token ``mtst kfp`` sends to the KFP API (``--token`` overrides it)."""
    pipeline_id: str | None = None
    """Names the pipeline run whose MLflow parent run groups this process's runs (by default git commit + data
    hash + params hash)."""
    serving_venv: Path = Path(".venv-serving")
    """The virtual environment ``mtst serve`` runs MLServer from (``make serving-setup`` makes it; its own lock,
    no torch)."""

    @field_validator("max_file_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _SIZE.fullmatch(value)
        if match is None or int(match.group(1)) == 0:
            raise ValueError("is not a size: give a positive number of bytes (500000000) or one with a unit (500M, 2G)")
        return int(match.group(1)) * _UNITS[match.group(2).lower()]

    @field_validator("failpoints", mode="before")
    @classmethod
    def _plan(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        plan = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, _, count = item.partition("=")
            if not name.strip() or not (count.strip() or "1").isdigit():
                raise ValueError(f"{item!r} is not a failpoint: give name or name=N, comma-separated")
            plan[name.strip()] = int(count or 1)
        return plan

    @classmethod
    def current(cls) -> Environment:
        """The settings in ``os.environ`` now; a bad value raises ``ConfigError`` naming the variable."""
        raw = {field: os.environ[name] for field, name in _FIELD_NAMES.items() if os.environ.get(name, "").strip()}
        try:
            return cls(**raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0])
            message = str(error["msg"]).removeprefix("Value error, ")
            joint = " " if message.startswith("is ") else ": "  # "is not a size" reads on from the value
            raise ConfigError(f"{env_name(field)}={raw[field]!r}{joint}{message}") from None


def env_name(field: str) -> str:
    """The variable that sets ``field``: ``max_file_bytes`` -> ``MTST_MAX_FILE_BYTES``."""
    if field not in _FIELD_NAMES:
        raise KeyError(f"no environment setting {field!r}; settings are {', '.join(_FIELD_NAMES)}")
    return _FIELD_NAMES[field]


_FIELD_NAMES = {field: PREFIX + field.upper() for field in Environment.model_fields}
NAMES: tuple[str, ...] = tuple(_FIELD_NAMES.values())
"""Every ``MTST_*`` variable, in declaration order."""


def default(field: str) -> Any:
    """The value ``field`` takes when its variable is unset (``Environment().<field>``)."""
    return getattr(Environment(), field)


def _shown(value: Any) -> str:
    return "unset" if value in (None, {}) else str(value)


def describe() -> list[tuple[str, str, str]]:
    """``(variable, default, what it changes)`` per setting, for the docs."""
    return [(name, _shown(default(field)), " ".join((info.description or "").split()))
            for field, name, info in ((f, n, Environment.model_fields[f]) for f, n in _FIELD_NAMES.items())]
