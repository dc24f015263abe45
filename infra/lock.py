"""Add sha256 hashes to requirements.lock (same versions) and write infra/requirements-cuda.lock.

Why: every install (``make setup``, the images) runs ``pip install --require-hashes``, so a file that differs
from the one locked (a re-uploaded or tampered wheel, another index serving the same name) is refused. The
hashes come from pip's own resolver (``pip install --dry-run --report``: index metadata, no full download),
run three times and merged per package:

1. with this machine's pip configuration (its local wheel folder holds torch's CPU wheel: ``make setup``);
2. PyPI only, plus the local wheel folder (what the CPU image's build sees);
3. PyPI only, no local wheels (on Linux x86_64 / CPython 3.11, the images' platform): torch resolves to
   PyPI's CUDA build; it and its extra dependencies (nvidia-*, triton) go to ``infra/requirements-cuda.lock``.
   requirements.lock keeps only the CPU wheel's torch hash: with PyPI's hash there too, pip's hash-checking
   mode prefers PyPI's hash-carrying link over the local CPU wheel, and the CPU installs must not pull 3 GB of
   CUDA libraries.

A locked sdist (a project with no wheel) is built at install time, after pip has checked its hash, by the
locked setuptools (``make setup`` and the image install it first and pass ``--no-build-isolation``: isolation
would install build tools unpinned). So the lock must hold setuptools when it holds an sdist; the script says
which packages are sdists and refuses a lock that could not build them. The MLflow server image builds nothing:
its lock must be wheels only.

The MLflow server image has its own lock: ``infra/requirements-mlflow.in`` (its direct pins) resolved on PyPI
into ``infra/requirements-mlflow.lock``, every package pinned and hashed.

Usage (``make lock`` runs both): ``python infra/lock.py [--lock requirements.lock]`` and
``python infra/lock.py --server``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
HEADER = ("# Exact versions of every package with their sha256 hashes; installs use --require-hashes.\n"
          "# Regenerate with: make lock (re-resolves, then infra/lock.py adds the hashes).\n")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, str]:
    """``{name: version}`` from a lock file, with or without hashes."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def resolve(pins: dict[str, str], *pip_args: str, isolated: bool, extras: dict[str, str] | None = None,
            sdists: set[str] | None = None) -> dict[str, tuple[str, str, set[str]]]:
    """``{canonical name: (name, version, {sha256})}`` pip would install for ``pins`` with ``pip_args``; the
    canonical names whose chosen file is an sdist are added to ``sdists``."""
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "pins.txt"
        extras = extras or {}
        reqs.write_text("".join(f"{name}{extras.get(name, '')}=={version}\n" for name, version in pins.items()),
                        encoding="utf-8")
        report = Path(tmp) / "report.json"
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull} if isolated else dict(os.environ)
        if isolated:
            for key in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_CONSTRAINT"):
                env.pop(key, None)
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), "-r", str(reqs), *pip_args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"error: {' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        found = {}
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]:
            meta = item["metadata"]
            hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
            if "sha256" not in hashes:
                raise SystemExit(f"error: pip reported no sha256 for {meta['name']} ({item['download_info']['url']})")
            found[canonical(meta["name"])] = (meta["name"], meta["version"], {hashes["sha256"]})
            if sdists is not None and not item["download_info"]["url"].endswith(".whl"):
                sdists.add(canonical(meta["name"]))
        return found


def merge(*results: dict[str, tuple[str, str, set[str]]]) -> dict[str, tuple[str, str, set[str]]]:
    merged: dict[str, tuple[str, str, set[str]]] = {}
    for result in results:
        for key, (name, version, hashes) in result.items():
            if key in merged:
                merged[key][2].update(hashes)
            else:
                merged[key] = (name, version, set(hashes))
    return merged


def render(entries: list[tuple[str, str, set[str]]], header: str) -> str:
    lines = [header]
    for name, version, hashes in entries:
        version = version.split("+")[0]  # torch 2.13.0+cpu and PyPI's 2.13.0: one pin, both hashes
        lines.append(f"{name}=={version} \\\n" + " \\\n".join(f"    --hash=sha256:{h}" for h in sorted(hashes)) + "\n")
    return "".join(lines)


def lock_server(source: Path, out: Path) -> None:
    """The MLflow server's lock: its direct pins (``name[extra]==version``) and everything they pull in."""
    pins, extras = {}, {}
    for line in source.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)(\[[^\]]+\])?==(\S+)", line.strip())
        if match:
            pins[match.group(1)] = match.group(3)
            extras[match.group(1)] = match.group(2) or ""
    sdists: set[str] = set()
    resolved = resolve(pins, isolated=True, extras=extras, sdists=sdists)
    if sdists:
        raise SystemExit(f"error: {sorted(sdists)} have no wheel; infra/Dockerfile.mlflow installs wheels only")
    entries = sorted(resolved.values(), key=lambda e: canonical(e[0]))
    out.write_text(render(entries, f"# The MLflow server image's packages (infra/Dockerfile.mlflow) with their sha256 hashes, from\n"
                                   f"# {source.name}. Written by infra/lock.py --server.\n"), encoding="utf-8")
    print(f"{out}: {len(entries)} packages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", action="store_true", help="write infra/requirements-mlflow.lock instead")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--cuda-lock", type=Path, default=ROOT / "infra" / "requirements-cuda.lock")
    parser.add_argument("--wheels", default="/opt/wheels", help="the local wheel folder holding torch's CPU wheel")
    args = parser.parse_args()
    if args.server:
        lock_server(ROOT / "infra" / "requirements-mlflow.in", ROOT / "infra" / "requirements-mlflow.lock")
        return

    pins = read_pins(args.lock)
    sdists: set[str] = set()
    here = resolve(pins, isolated=False, sdists=sdists)
    image_cpu = resolve(pins, "--find-links", args.wheels, isolated=True, sdists=sdists)
    cuda = resolve(pins, isolated=True, sdists=sdists)  # this machine is the images' platform: Linux x86_64, CPython 3.11
    locked = {canonical(n) for n in pins}
    merged = merge(here, image_cpu)
    missing = locked - merged.keys()
    if missing:
        raise SystemExit(f"error: the resolver did not pick {sorted(missing)}: the lock is not complete")
    for key, (name, version, _) in merged.items():
        if version.split("+")[0] != pins[next(n for n in pins if canonical(n) == key)]:
            raise SystemExit(f"error: {name} resolved to {version}, the lock says otherwise")
    # PyPI's torch is another file than the CPU wheel: its hash goes to the CUDA lock, which the CUDA image
    # installs with requirements.lock less its torch entry (infra/Dockerfile).
    differing = {k for k in locked & cuda.keys() if not cuda[k][2] <= merged[k][2]}
    if differing != {"torch"}:
        raise SystemExit(f"error: CPU and CUDA installs differ in {sorted(differing)}; infra/Dockerfile swaps torch only")
    if sdists and "setuptools" not in locked:
        raise SystemExit(f"error: {sorted(sdists)} are sdists, built at install by the locked setuptools: lock it")
    ordered = [merged[canonical(n)] for n in pins]
    args.lock.write_text(render(ordered, HEADER), encoding="utf-8")
    extra = sorted((v for k, v in cuda.items() if k not in locked or k in differing), key=lambda e: canonical(e[0]))
    args.cuda_lock.write_text(render(extra, "# PyPI's torch (the CUDA build, Linux x86_64) and its CUDA dependencies: "
                                            "infra/Dockerfile with\n# --build-arg TORCH_VARIANT=cuda installs these "
                                            "with requirements.lock less its torch entry (the CPU wheel's).\n"
                                            "# Written by infra/lock.py.\n"), encoding="utf-8")
    print(f"{args.lock}: {len(ordered)} packages (sdists, built with the locked setuptools: "
          f"{', '.join(sorted(sdists)) or 'none'}); {args.cuda_lock}: {len(extra)} CUDA packages")


if __name__ == "__main__":
    main()
