"""`make setup` and the images install requirements.lock so that nothing runs before its hash is checked: pip
refuses a tampered sdist before building it, and the lock's sdists build with the locked setuptools instead of
build tools fetched unpinned (build isolation). Real pip against a real index on a loopback port."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.package_index import PackageIndex, sdist

ROOT = Path(__file__).resolve().parents[1]


def setup_install_flags() -> list[str]:
    """The options `make setup` installs requirements.lock with (its recipe in the Makefile)."""
    recipe = re.search(r"^\$\(VENV\)/\.installed:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile has no $(VENV)/.installed recipe"
    (line,) = [line for line in recipe.group(1).splitlines() if "-r requirements.lock" in line]
    return [arg for arg in shlex.split(line.split("pip install", 1)[1]) if arg not in ("--quiet", "-r", "requirements.lock")]


def pip_install(index: PackageIndex, lock: Path, target: Path, flags: list[str]) -> subprocess.CompletedProcess:
    """This venv's pip (whose setuptools is the locked one) installing ``lock`` into ``target`` from ``index`` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index.url, PIP_NO_CACHE_DIR="1", PIP_RETRIES="0",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run([sys.executable, "-m", "pip", "install", "--target", str(target), *flags, "-r", str(lock)],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def served(tmp_path):
    indexes = []

    def serve(body: bytes, pinned: bytes) -> tuple[PackageIndex, Path]:
        index = PackageIndex("demo-1.0.tar.gz", body)
        indexes.append(index)
        lock = tmp_path / "demo.lock"
        lock.write_text(f"demo==1.0 --hash=sha256:{hashlib.sha256(pinned).hexdigest()}\n")
        return index, lock

    yield serve
    for index in indexes:
        index.close()


def test_setup_builds_the_locks_sdists_with_the_locked_setuptools(served, tmp_path):
    """Build isolation would ask the index for setuptools (any version, no hash) and run it: `make setup` must not."""
    good = sdist("demo", "1.0")
    index, lock = served(good, good)
    proc = pip_install(index, lock, tmp_path / "target", setup_install_flags())
    fetched = [path for path in index.requests if not path.startswith(("/simple/demo/", "/files/demo-1.0.tar.gz"))]
    assert fetched == [], f"the install asked the index for unpinned build tools: {fetched}"
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / "target").glob("demo-1.0.dist-info"))


def test_setup_and_image_install_the_lock_alike():
    """The components' image installs requirements.lock with `make setup`'s options, its setuptools first."""
    dockerfile = re.sub(r"\\\n\s*", " ", (ROOT / "infra" / "Dockerfile").read_text())
    (install,) = re.findall(r"pip install[^&;\n]*-r requirements\.lock[^&;\n]*", dockerfile)
    assert set(setup_install_flags()) <= set(install.split()), install
    backend = dockerfile.find("--only-binary :all: --no-deps -r /tmp/build/build-backend.lock")
    assert 0 <= backend < dockerfile.index(install), "the locked setuptools must be installed before the lock"


def test_pip_refuses_a_tampered_locked_sdist_before_running_it(served, tmp_path):
    """What `make setup` relies on: --require-hashes compares the download with the lock before any build step."""
    marker = tmp_path / "ran"
    index, lock = served(sdist("demo", "1.0", marker), sdist("demo", "1.0"))
    proc = pip_install(index, lock, tmp_path / "target", setup_install_flags())
    assert proc.returncode != 0 and "DO NOT MATCH THE HASHES" in proc.stderr, proc.stderr[-3000:]
    assert "/files/demo-1.0.tar.gz" in index.requests  # it was downloaded ...
    assert not marker.exists(), "code from the tampered sdist ran"  # ... and refused unrun


def test_lock_names_the_sdists_it_locks(served, monkeypatch):
    """infra/lock.py tells sdists (built at install, so the lock must hold setuptools) from wheels."""
    spec = importlib.util.spec_from_file_location("infra_lock", ROOT / "infra" / "lock.py")
    lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lock)
    index, _ = served(sdist("demo", "1.0"), sdist("demo", "1.0"))
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sdists: set[str] = set()
    found = lock.resolve({"demo": "1.0"}, "--no-build-isolation", isolated=False, sdists=sdists)
    assert sdists == {"demo"} and found["demo"][1] == "1.0"
