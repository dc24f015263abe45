"""Typed parameters: ``Params``, all of ``params.yaml`` (one pydantic model per section, defined in
``mtst.sections``), loaded with its profile overlays.

Where a value lives: each setting's type, bounds, default value and meaning are its pydantic field (the one home);
``params.yaml`` is the copy DVC reads and tracks per section, and ``tests/test_params.py`` fails when a value there
differs from its field's default. The recipes (``train.variants``) and the plan (``pipeline``) are data, declared
only in params.yaml. A profile (``profiles/<name>.yaml``) holds only what differs from the defaults;
``mtst params use <profile>`` writes the defaults of every key any profile sets, then the profile's values, into
params.yaml (so ``use default`` undoes ``use smoke``), keeping the file's comments.

DVC tracks each section separately, so a step reads only its own section and a change to one variant's training
params does not invalidate data preparation.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mtst.sections import (AugmentOp, AugmentParams, CompareParams, CurveParams, DataParams, EvaluateParams,  # noqa: F401
                           ModelParams, PipelineParams, PrepareParams, SentimentSource, ServeParams, TopicSource,
                           TrackingParams, ValidateParams)  # the sections are imported from here too (``from mtst.config import ...``)
from mtst.training.schema import TrainParams


class ConfigError(ValueError):
    """params.yaml or a profile is invalid; the message names the file and the offending key."""


def attach_followups(train: TrainParams, followups: dict[str, str], where: str = "params.yaml") -> TrainParams:
    """``train`` with ``init_from`` of each follow-up variant set from ``followups`` (the single declaration);
    a variant that sets ``init_from`` itself, or a follow-up that ``train.variants`` lacks, is an error."""
    for name, variant in train.variants.items():
        if variant.init_from is not None and variant.init_from != followups.get(name):
            raise ConfigError(f"{where}: train.variants.{name}.init_from: declare follow-up variants in "
                              f"pipeline.followups ({name}: {variant.init_from}), not in the variant")
    missing = [name for name in followups if name not in train.variants]
    if missing:
        raise ConfigError(f"{where}: pipeline.followups: {missing} not defined in train.variants")
    variants = {name: variant.model_copy(update={"init_from": followups[name]}) if name in followups else variant
                for name, variant in train.variants.items()}
    return train.model_copy(update={"variants": variants})


warnings.filterwarnings("ignore", message='Field name "validate" in "Params" shadows', category=UserWarning)


class Params(BaseModel):
    """All of params.yaml: one model per section, each validated when the file is loaded (a step then reads only
    its own section). An unknown top-level section is refused: a misspelt one would otherwise be ignored and
    its step would run on the defaults."""

    model_config = ConfigDict(extra="forbid")

    data: DataParams = DataParams()
    prepare: PrepareParams = PrepareParams()
    model: ModelParams = ModelParams()
    train: TrainParams | None = None
    evaluate: EvaluateParams = EvaluateParams()
    compare: CompareParams = CompareParams()
    tracking: TrackingParams = TrackingParams()
    validate: ValidateParams = ValidateParams()  # type: ignore[assignment]
    augment: AugmentParams = AugmentParams()
    pipeline: PipelineParams | None = None
    curve: CurveParams = CurveParams()
    serve: ServeParams = ServeParams()

    @model_validator(mode="after")
    def _plan(self) -> "Params":
        """The pipeline's variants exist and each follow-up starts from a first-wave variant; follow-ups get
        their ``init_from`` (so every consumer of these params, the trainer included, sees the same plan)."""
        if self.pipeline is None or self.train is None:
            return self
        unknown = [v for v in self.pipeline.variants if v not in self.train.variants]
        if unknown:
            raise ConfigError(f"params.yaml: pipeline.variants: {unknown} not defined in train.variants")
        twice = sorted({v for v in self.pipeline.variants if self.pipeline.variants.count(v) > 1}
                       | (set(self.pipeline.variants) & set(self.pipeline.followups)))
        if twice:
            raise ConfigError(f"params.yaml: pipeline: {twice} listed more than once (variants and followups)")
        for name, source in self.pipeline.followups.items():
            if source not in self.pipeline.variants:
                raise ConfigError(f"params.yaml: pipeline.followups.{name}: starts from {source!r}, which is not "
                                  f"in pipeline.variants (trained in the first wave)")
        self.train = attach_followups(self.train, self.pipeline.followups)
        return self


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_params_dict(path: str | Path = "params.yaml", profile: str | None = None) -> dict[str, Any]:
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    raw = raw or {}
    for keys, value in profile_values(path, profile) if profile else ():
        _put(raw, keys, copy.deepcopy(value))
    return raw


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    try:
        return Params.model_validate(read_params_dict(path, profile))
    except ValidationError as exc:
        raise ConfigError(f"{path}{f' + profile {profile}' if profile else ''}: {exc}") from None


def profile_overlay(path: str | Path, profile: str) -> dict[str, Any]:
    """``profiles/<profile>.yaml`` beside ``path`` (a partial params mapping)."""
    overlay_path = Path(path).parent / "profiles" / f"{profile}.yaml"
    if not overlay_path.exists():
        raise ConfigError(f"profile {profile!r}: {overlay_path} does not exist")
    return yaml.safe_load(overlay_path.read_text(encoding="utf-8")) or {}


def leaf_keys(mapping: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a nested mapping that ends in a value (a list is a value)."""
    keys: list[tuple[str, ...]] = []
    for key, value in mapping.items():
        keys += leaf_keys(value, (*prefix, key)) if isinstance(value, dict) and value else [(*prefix, key)]
    return keys


def default_value(keys: tuple[str, ...]) -> Any:
    """The default of the setting at ``keys`` (``("prepare", "test_limit")``): its pydantic field's, JSON-shaped."""
    model: type[BaseModel] = Params
    for depth, key in enumerate(keys):
        field = model.model_fields.get(key)
        if field is None:
            raise ConfigError(f"{'.'.join(keys)}: no such setting")
        nested = _model_of(field.annotation)
        if depth < len(keys) - 1:
            if nested is None:
                raise ConfigError(f"{'.'.join(keys)}: {'.'.join(keys[:depth + 1])} has no sub-settings")
            model = nested
            continue
        if field.is_required():
            raise ConfigError(f"{'.'.join(keys)}: has no default (declared in params.yaml only)")
        value = field.get_default(call_default_factory=True)
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    raise ConfigError("an empty key")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (``X`` or ``X | None``), else None."""
    import typing

    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def profile_values(path: str | Path, profile: str) -> list[tuple[tuple[str, ...], Any]]:
    """What selecting ``profile`` sets, in order: every key any profile beside ``path`` sets, to its default (so a
    profile never inherits another's values), then the profile's own values."""
    overlay = profile_overlay(path, profile)
    profiled = {keys for other in (Path(path).parent / "profiles").glob("*.yaml")
                for keys in leaf_keys(profile_overlay(path, other.stem))}
    values: list[tuple[tuple[str, ...], Any]] = [(keys, default_value(keys)) for keys in sorted(profiled)]
    return values + [(keys, _get(overlay, keys)) for keys in leaf_keys(overlay)]


def _put(document: Any, keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        document = document.setdefault(key, {})
    document[keys[-1]] = value


def write_profile(path: str | Path, profile: str) -> None:
    """Write ``profile`` into ``path`` (atomically): every key any profile sets back to its default, then the
    profile's values; comments, anchors and other values kept.

    ruamel's round-trip mode edits the YAML in place, so ``mtst params use`` does not strip the
    documentation that lives in params.yaml's comments.
    """
    from ruamel.yaml import YAML

    from mtst.io import atomic_path

    path = Path(path)
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap long flow-style lines
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    document = rt.load(path.read_text(encoding="utf-8"))

    for keys, value in profile_values(path, profile):
        if _plain(_get(document, keys)) != value:  # an unchanged node keeps its style and comment
            _put(document, keys, _flow(value))
    Params.model_validate(_plain(document))  # refuse to write an invalid file
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        rt.dump(document, fh)


def _get(document: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(document, dict) or key not in document:
            return _MISSING
        document = document[key]
    return document


_MISSING = object()


def _flow(value: Any) -> Any:
    """A list as a flow-style YAML sequence (``[1, 2]``), as params.yaml writes its lists."""
    if not isinstance(value, list):
        return value
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(value)
    seq.fa.set_flow_style()
    return seq


def _plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts / lists (for validation)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
