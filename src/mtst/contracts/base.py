"""The common base of every inter-step file model: strict parsing, errors that name the file, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mtst.io import write_json

R = TypeVar("R", bound="Record")
M = TypeVar("M", bound=BaseModel)


class ContractError(ValueError):
    """A file between steps does not have the shape its writer promises (a user error: exit code 2)."""


def describe(error: ValidationError) -> str:
    """``field.path: message`` for each problem pydantic found, the first five."""
    problems = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors()[:5]]
    return "; ".join(problems)


def load_json(path: str | Path, missing: str = "the step that writes it has not run") -> Any:
    """The parsed file, or a ``ContractError`` saying it is absent (``missing``: what to do) or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"{path} not found: {missing}") from None
    except json.JSONDecodeError as e:
        raise ContractError(f"{path}: not JSON (line {e.lineno}: {e.msg})") from None


def validate(model: type[M], data: Any, source: str | Path, what: str) -> M:
    """``model`` from ``data``, or a ``ContractError`` naming ``source``, ``what`` it should be and the fields."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ContractError(f"{source}: not {what} ({describe(e)})") from None


class Record(BaseModel):
    """A JSON file written by one step and read by others. Unknown keys are refused: a writer that adds a field
    adds it to the model, so readers see it too."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def parse(cls: type[R], data: Any, source: str | Path) -> R:
        return validate(cls, data, source, f"a valid {cls.__name__}")

    @classmethod
    def read(cls: type[R], path: str | Path) -> R:
        return cls.parse(load_json(path), path)

    def dump(self) -> dict[str, Any]:
        """The JSON object as written (a model whose file leaves out some fields overrides this)."""
        return self.model_dump(mode="json")

    def write(self, path: str | Path) -> None:
        """Atomic, like every output (``mtst.io.write_json``)."""
        write_json(path, self.dump())
