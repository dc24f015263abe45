"""The vocabulary tables (tasks, ``MTST_*`` settings, backends) are the one home of their facts: every use
derives from them, and a bad environment value is an error that names the variable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from mtst.backends import BACKENDS, TABLE, BackendName, backend_named, backend_running, backends_of
from mtst.config import ConfigError
from mtst.environment import NAMES, Environment, describe
from mtst.tasks import TASK_NAMES, TASKS, task

REPO = Path(__file__).resolve().parents[1]


def test_every_mtst_variable_in_the_code_is_declared():
    used = set()
    for folder in ("src", "components", "pipelines"):
        for path in (REPO / folder).rglob("*.py"):
            used |= set(re.findall(r"\bMTST_[A-Z_]+[A-Z]\b", path.read_text(encoding="utf-8")))
    assert used <= set(NAMES), sorted(used - set(NAMES))
    assert [row[0] for row in describe()] == list(NAMES) and all(row[2] for row in describe())


def test_settings_are_read_when_used(monkeypatch):
    monkeypatch.setenv("MTST_MAX_FILE_BYTES", "2G")
    monkeypatch.setenv("MTST_FAILPOINTS", "train.step=17, io.between_renames")
    monkeypatch.setenv("MTST_SOURCE_CACHE", "")  # empty counts as unset
    env = Environment.current()
    assert env.max_file_bytes == 2 << 30 and env.failpoints == {"train.step": 17, "io.between_renames": 1}
    assert env.source_cache == Path(".cache/sources")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MTST_MAX_FILE_BYTES", "lots", "MTST_MAX_FILE_BYTES='lots' is not a size"),
    ("MTST_FAILPOINTS", "train.step=x", "MTST_FAILPOINTS='train.step=x': 'train.step=x' is not a failpoint"),
])
def test_a_bad_value_names_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        Environment.current()


def test_tasks_table():
    assert TASK_NAMES == tuple(t.name for t in TASKS) and len(set(TASK_NAMES)) == len(TASKS)
    assert task("task_b").short == "sentiment"
    with pytest.raises(KeyError, match="unknown task 'task_c'"):
        task("task_c")


def test_backend_table_derives_the_names_and_lookups():
    assert get_args(BackendName) == BACKENDS == tuple(b.name for b in TABLE)
    for row in TABLE:
        assert row.export is None or row.name in backends_of(row.export)
        assert row.export is None or backend_running(row.runtime, row.export, **row.options) == row.name
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        backend_named("tpu")


def test_importing_the_tables_imports_no_runtime():
    code = ("import sys, mtst.backends, mtst.tasks, mtst.environment; "
            "print(sorted({'onnxruntime', 'openvino', 'torch'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
