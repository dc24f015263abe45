"""The params sections each kfp component receives, like the params each DVC stage lists.

A component gets only its sections as one JSON string (``{section: values}``), so a change to one step's
params leaves the cache keys of the other tasks alone (a new learning rate does not re-run data, validate
and augment). The components parse their string with :func:`parse`: the same pydantic models as the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mtst.config import ConfigError, Params, attach_followups

SECTIONS: dict[str, tuple[str, ...]] = {
    "data": ("data", "prepare"),
    "validate": ("validate",),
    "augment": ("augment",),
    "train": ("model", "train"),
    "evaluate": ("evaluate", "tracking"),
    "compare": ("compare", "tracking", "pipeline"),
}
"""Component -> the params.yaml sections it reads (its pipeline parameter is ``<component>_params``)."""


def argument_name(component: str) -> str:
    return f"{component}_params"


def section_arguments(params: Mapping[str, Any]) -> dict[str, str]:
    """``{<component>_params: JSON of its sections}`` from the effective params mapping (sections it lacks
    are left out: the models' defaults apply, as for the CLI)."""
    return {argument_name(component): json.dumps({name: params[name] for name in names if name in params},
                                                 sort_keys=True)
            for component, names in SECTIONS.items()}


def parse(component: str, sections_json: str, followups: Mapping[str, str] | None = None) -> Params:
    """The params a component's task received (its ``<component>_params`` string), validated by the same
    models the CLI uses. ``followups`` (train): ``{variant: source}`` for the variant this task trains from
    another variant's model (``mtst.config.attach_followups``, as params.yaml's ``pipeline.followups`` does)."""
    from pydantic import ValidationError

    name = argument_name(component)
    try:
        raw = json.loads(sections_json or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"pipeline parameter {name} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"pipeline parameter {name} must be a JSON object ({{section: values}})")
    extra = sorted(set(raw) - set(SECTIONS[component]))
    if extra:
        raise ConfigError(f"pipeline parameter {name}: sections {extra} are not the {component} task's "
                          f"(it reads {list(SECTIONS[component])})")
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"pipeline parameter {name}: {exc}") from None
    if followups and params.train is not None:
        params.train = attach_followups(params.train, dict(followups), where=f"pipeline parameter {name}")
    return params
