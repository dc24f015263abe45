"""Every setting's value has one home, its pydantic field: params.yaml (what DVC tracks) agrees with it, profiles
hold only what differs, and switching profiles round-trips the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mtst.config import Params, default_value, leaf_keys, load_params, write_profile
from mtst.training.fingerprint import OPERATIONAL
from mtst.training.schema import TrainParams

DATA_ONLY = (("train", "variants"), ("pipeline",))
"""The recipes and the plan: data declared in params.yaml only (their fields have no defaults)."""


def _data_only(keys: tuple[str, ...]) -> bool:
    return any(keys[:len(prefix)] == prefix for prefix in DATA_ONLY)


def _settings(model: type, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf setting a model declares (nested section models walked)."""
    from mtst.config import _model_of

    keys: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        keys += _settings(nested, (*prefix, name)) if nested is not None else [(*prefix, name)]
    return keys


@pytest.fixture(scope="module")
def params_yaml(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))


def test_params_yaml_writes_every_setting_with_its_declared_default(params_yaml):
    written = {k for k in leaf_keys(params_yaml) if not _data_only(k)}
    declared = {k for k in _settings(Params) if not _data_only(k)}
    assert declared - written == set(), "settings params.yaml lacks (DVC would not track them)"
    assert written - declared == set(), "params.yaml keys no model declares"
    differ = {".".join(k): (default_value(k), _at(params_yaml, k)) for k in written if default_value(k) != _at(params_yaml, k)}
    assert differ == {}, "params.yaml value != the field's default (the one home): (default, params.yaml)"


def test_profiles_hold_only_what_differs_from_the_defaults(repo_root):
    for path in sorted((repo_root / "profiles").glob("*.yaml")):
        overlay = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        same = [".".join(k) for k in leaf_keys(overlay) if default_value(k) == _at(overlay, k)]
        assert same == [], f"{path.name} repeats default values"
        load_params(repo_root / "params.yaml", path.stem)  # valid on top of params.yaml


def test_switching_profiles_round_trips_params_yaml(repo_root, tmp_path):
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(repo_root / "profiles", tmp_path / "profiles")
    original = (tmp_path / "params.yaml").read_bytes()
    for profile in ("smoke", "full", "smoke"):
        write_profile(tmp_path / "params.yaml", profile)
        smoked = load_params(tmp_path / "params.yaml")
        assert smoked == load_params(repo_root / "params.yaml", profile)  # the file now is params.yaml + profile
    write_profile(tmp_path / "params.yaml", "default")
    assert (tmp_path / "params.yaml").read_bytes() == original


def test_a_profile_key_that_is_no_setting_is_refused(repo_root, tmp_path):
    from mtst.config import ConfigError

    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.yaml").write_text("prepare:\n  test_limt: 5\n")
    with pytest.raises(ConfigError, match="prepare.test_limt"):
        write_profile(tmp_path / "params.yaml", "mine")


def test_every_train_key_shapes_the_weights_or_is_declared_operational():
    """A train key is in the checkpoint fingerprint (and dvc.yaml's train params: test_dag) unless declared
    operational; an operational key that no longer exists is a stale declaration."""
    assert OPERATIONAL <= set(TrainParams.model_fields)


def _at(mapping: dict, keys: tuple[str, ...]):
    for key in keys:
        mapping = mapping[key]
    return mapping
