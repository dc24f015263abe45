"""The model server's own environment (``make serving-setup``: ``.venv-serving`` from
``infra/requirements-serving.lock``, which ``infra/Dockerfile.serving`` installs too): every package hashed and
installed from wheels only, no torch or MLflow, and the libraries that compute the served numbers (ONNX Runtime,
OpenVINO, tokenizers, numpy) at requirements.lock's versions, so the served model answers as ``mtst predict``
does; the lock's only other differences are the exceptions its ``.in`` declares. The venv itself (made by
``make test``) holds exactly the lock and this checkout's mtst, imports the runtime's libraries and has no torch."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What computes the served numbers: these must be requirements.lock's versions, never an exception.
NUMERICS = ("onnxruntime", "openvino", "tokenizers", "numpy")


@functools.cache
def lock_script() -> ModuleType:
    """infra/lock.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("infra_lock", ROOT / "infra" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def server():
    """The serving lock's declaration in infra/lock.py (its .in, its lock)."""
    return lock_script().SERVERS["serving"]


def serving_venv() -> Path:
    """Where `make serving-setup` makes the venv: the Makefile's SERVING."""
    match = re.search(r"^SERVING := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile declares no SERVING (the serving venv)"
    return ROOT / match.group(1)


def entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """``{canonical name: (version, [sha256...])}`` of a hashed lock (entries may carry extras: ``name[x]==v``)."""
    found = {}
    for block in re.split(r"\n(?=[A-Za-z])", re.sub(r"(?m)^#.*\n", "", path.read_text())):
        match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^\]]+\])?==(\S+)", block)
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            found[lock_script().canonical(match.group(1))] = (match.group(2), hashes)
    return found


def test_serving_lock_is_hashed_and_follows_the_main_lock():
    serving, main = entries(server().out), entries(ROOT / "requirements.lock")
    assert "mlserver" in serving and all(hashes for _, hashes in serving.values()), \
        [name for name, (_, hashes) in serving.items() if not hashes]
    assert not {"torch", "mlflow"} & serving.keys()
    requirements = lock_script().read_requirements(server().source)
    assert requirements.keys() <= serving.keys()  # the lock is the .in's, resolved
    for name, (_, spec) in requirements.items():
        if spec.startswith("=="):
            assert serving[name][0] == spec[2:], name
    exceptions = {name for name, (_, spec) in requirements.items() if spec and name in main}
    for name in NUMERICS:
        assert name not in exceptions and serving[name][0] == main[name][0], name
    differing = {name for name in serving.keys() & main.keys() if serving[name][0] != main[name][0]}
    assert differing == exceptions, "the serving lock differs from requirements.lock where its .in does not say so"


def test_serving_installs_are_hash_checked_wheels_only():
    """The Makefile's and the image's installs of the lock: --require-hashes --only-binary :all:, so pip refuses
    an unhashed file or an sdist (whose build would run code) before anything runs."""
    for path in (ROOT / "Makefile", ROOT / "infra" / "Dockerfile.serving"):
        joined = re.sub(r"\\\n\s*", " ", path.read_text())
        installs = [m.group(0) for m in re.finditer(r"pip install[^&;\n]*requirements-serving\.lock", joined)]
        assert installs, path
        for install in installs:
            assert "--require-hashes" in install and "--only-binary :all:" in install, (path, install)


def test_a_dependency_required_with_an_extra_is_locked_with_it():
    """pip (pypa/pip#9644) refuses a hash-checked install where a locked package is required with an extra it is
    locked without (MLServer's ``tritonclient[http]``); infra/lock.py locks it with the extras its dependents ask
    for, those behind a marker only where the marker holds."""
    def item(name, *requires, extras=None):
        return {"metadata": {"name": name, "version": "1", "requires_dist": list(requires)},
                **({"requested_extras": extras} if extras else {})}

    report = [item("server", "client[http]>=2", "fast-lib[fast]; extra == 'speed'", "other[x]; python_version < '3'"),
              item("client", "transport[tls]; extra == 'http'"), item("transport"), item("fast-lib"), item("other")]
    assert lock_script().dependent_extras(report) == {"client": {"http"}, "transport": {"tls"}}
    report[0]["requested_extras"] = ["speed"]
    assert lock_script().dependent_extras(report)["fast-lib"] == {"fast"}
    locked = server().out.read_text()
    assert re.search(r"^tritonclient\[http\]==", locked, re.M)  # the case that needs it, in the real lock


@pytest.fixture(scope="module")
def venv_python() -> Path:
    venv = serving_venv()
    if not (venv / "bin" / "mlserver").exists():
        pytest.fail(f"no serving environment at {venv}: `make serving-setup` makes it (`make test` does)")
    python = venv / "bin" / "python"
    return python


def test_serving_venv_holds_the_lock_and_mtst_but_no_torch(venv_python):
    probe = ("import json, importlib.metadata as md, mlserver, onnxruntime, openvino, tokenizers, mtst, "
             "mtst.export.onnx_model, mtst.export.openvino_model, mtst.model_digest\n"
             "print(json.dumps({'mtst': mtst.__file__, 'installed': {d.metadata['Name']: d.version "
             "for d in md.distributions()}}))")
    proc = subprocess.run([str(venv_python), "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout)
    assert Path(found["mtst"]).is_relative_to(ROOT / "src")  # this checkout's source (pip install -e .)
    installed = {lock_script().canonical(name): version for name, version in found["installed"].items()}
    locked = {name: version for name, (version, _) in entries(server().out).items()}
    assert {name: installed.get(name) for name in locked} == locked  # up to date with the lock (the stamp)
    assert set(installed) - set(locked) <= {"pip", "mtst"}
    proc = subprocess.run([str(venv_python), "-c", "import torch"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr, proc.stderr[-2000:]


def test_serving_venv_is_the_one_mtst_serve_uses():
    """The Makefile makes it where ``MTST_SERVING_VENV`` points by default: one path, declared twice, checked here."""
    from mtst.environment import Environment

    assert ROOT / Environment.model_fields["serving_venv"].default == serving_venv()
