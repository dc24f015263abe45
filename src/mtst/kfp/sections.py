"""Which DAG stages each kfp component runs, and so the params sections it receives.

A component runs one or more stages of ``mtst.dag`` (``data``: fetch and prepare; ``train``: a variant of the
first wave or a follow-up; ...) and receives exactly the params sections those stages read
(``Stage.sections``), as its one ``dict`` parameter ``<component>_params`` (``{section: values}``). So a change
to one step's params leaves the cache keys of the other tasks alone (a new learning rate does not re-run data,
validate and augment). The components validate what they received with :func:`parse`: the same pydantic models
as the CLI.

A params value may be null (``prepare.test_limit: null``: no limit), which kfp 2.17 cannot carry in a ``dict``
parameter: its SDK turns defaults and kfp.local arguments into protobuf values without null
(``kfp.compiler.pipeline_spec_builder.to_protobuf_value`` refuses None). So :func:`section_arguments` writes
:data:`NULL` for it and :func:`plain` reads it back (a JSON null that reaches a task through the KFP API, from the
UI say, is read as null too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mtst import dag
from mtst.config import ConfigError, Params, attach_followups

COMPONENT_STAGES: dict[str, tuple[str, ...]] = {
    "data": ("fetch", "prepare"),
    "validate": ("validate", "validate_augmented"),
    "augment": ("augment",),
    "train": ("train", "train_followup"),
    "evaluate": ("evaluate", "evaluate_followup"),
    "compare": ("compare",),
}
"""Component -> the DAG stages its tasks run (``tests/test_kfp.py`` checks every stage has exactly one)."""


def component_sections(component: str) -> tuple[str, ...]:
    """The params sections of ``component``: those of its stages, in order, each once."""
    return tuple(dict.fromkeys(s for name in COMPONENT_STAGES[component] for s in dag.stage(name).sections))


NULL = "<null>"
"""A null params value inside a ``dict`` pipeline parameter (see the module docstring)."""


def _nulls_to(value: Any, old: str | None, new: str | None) -> Any:
    """``value`` with every leaf equal to ``old`` (None or :data:`NULL`) replaced by ``new``."""
    if isinstance(value, Mapping):
        return {key: _nulls_to(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_nulls_to(item, old, new) for item in value]
    return new if value == old else value


def plain(sections: Mapping[str, Any]) -> dict[str, Any]:
    """A component's sections as params.yaml writes them: :data:`NULL` back to None (what the steps log)."""
    return _nulls_to(sections, NULL, None)


def argument_name(component: str) -> str:
    return f"{component}_params"


ARGUMENTS = tuple(argument_name(component) for component in COMPONENT_STAGES)
"""The pipeline's params parameters, one per component."""


def section_arguments(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{<component>_params: {section: values}}`` from the effective params mapping (sections it lacks are left
    out: the models' defaults apply, as for the CLI)."""
    return {argument_name(component): _nulls_to({name: params[name] for name in component_sections(component)
                                                 if name in params}, None, NULL)
            for component in COMPONENT_STAGES}


def parse(component: str, sections: Mapping[str, Any], followups: Mapping[str, str] | None = None) -> Params:
    """The params a component's task received (its ``<component>_params``), validated by the same models the CLI
    uses. ``followups`` (train): ``{variant: source}`` for the variant this task trains from another variant's
    model (``mtst.config.attach_followups``, as params.yaml's ``pipeline.followups`` does)."""
    from pydantic import ValidationError

    name = argument_name(component)
    if not isinstance(sections, Mapping):
        raise ConfigError(f"pipeline parameter {name} must be a mapping ({{section: values}}), "
                          f"not {type(sections).__name__}")
    allowed = component_sections(component)
    extra = sorted(set(sections) - set(allowed))
    if extra:
        raise ConfigError(f"pipeline parameter {name}: sections {extra} are not the {component} task's "
                          f"(it reads {list(allowed)})")
    try:
        params = Params.model_validate(plain(sections))
    except ValidationError as exc:
        raise ConfigError(f"pipeline parameter {name}: {exc}") from None
    if followups and params.train is not None:
        params.train = attach_followups(params.train, dict(followups), where=f"pipeline parameter {name}")
    return params
