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
which packages are sdists and refuses a lock that could not build them.

The servers have their own locks (``SERVERS``), because their pins conflict with requirements.lock: each
``infra/requirements-<name>.in`` resolved on PyPI into ``infra/requirements-<name>.lock``, every package pinned
and hashed, wheels only (``--only-binary :all:``, as their installs: the server images build nothing). The
MLflow server's ``.in`` pins its direct dependencies. The model server's (``serving``: MLServer and the runtimes
of the exported model, for ``.venv-serving`` and infra/Dockerfile.serving) follows requirements.lock: a bare name,
and every package both environments install, takes requirements.lock's version, so the served model computes with
the same libraries as ``mtst predict``; a name the ``.in`` gives a specifier of its own (``fastapi<0.116``:
MLServer's pin) is a declared exception, and the only place the two differ.

Usage (``make lock`` runs them all): ``python infra/lock.py [--lock requirements.lock]`` and
``python infra/lock.py --server [mlflow|serving]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

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


def resolve(pins: Mapping[str, str] | Sequence[str], *pip_args: str, isolated: bool,
            constraints: Mapping[str, str] | None = None, sdists: set[str] | None = None,
            extras: dict[str, set[str]] | None = None) -> dict[str, tuple[str, str, set[str]]]:
    """``{canonical name: (name, version, {sha256})}`` pip would install for ``pins`` (``{name: version}``, or
    requirement lines as pip reads them) with ``pip_args``, every package held to its version in ``constraints``;
    the canonical names whose chosen file is an sdist are added to ``sdists``, and ``extras`` gets
    ``{canonical name: {extra}}`` for the packages another one requires with extras (``dependent_extras``)."""
    lines = [f"{name}=={version}" for name, version in pins.items()] if isinstance(pins, Mapping) else list(pins)
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "pins.txt"
        reqs.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        if constraints:
            held = Path(tmp) / "constraints.txt"
            held.write_text("".join(f"{name}=={version}\n" for name, version in constraints.items()), encoding="utf-8")
            pip_args = (*pip_args, "-c", str(held))
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
        items = json.loads(report.read_text(encoding="utf-8"))["install"]
        if extras is not None:
            extras.update(dependent_extras(items))
        for item in items:
            meta = item["metadata"]
            hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
            if "sha256" not in hashes:
                raise SystemExit(f"error: pip reported no sha256 for {meta['name']} ({item['download_info']['url']})")
            found[canonical(meta["name"])] = (meta["name"], meta["version"], {hashes["sha256"]})
            if sdists is not None and not item["download_info"]["url"].endswith(".whl"):
                sdists.add(canonical(meta["name"]))
        return found


def dependent_extras(items: list[dict[str, Any]]) -> dict[str, set[str]]:
    """``{canonical name: {extra}}``: the extras other installed packages require each one with (their
    ``Requires-Dist`` whose markers hold here, given the extras they are installed with themselves).

    Why: pip (23.2, pypa/pip#9644) refuses a hash-checked install where a locked package is required with an extra
    (``tritonclient[http]>=2.42``, MLServer's) but locked without it: "all requirements must have their versions
    pinned with ==". The lock's entry carries the extra (``tritonclient[http]==2.69.0``), and pip accepts it."""
    from packaging.requirements import Requirement  # a dependency of pip-based tooling, in every locked venv

    by_name = {canonical(item["metadata"]["name"]): item for item in items}
    wanted = {key: set(item.get("requested_extras") or ()) for key, item in by_name.items()}
    required: dict[str, set[str]] = {}
    changed = True
    while changed:  # an extra can switch on a dependency that requires another extra: to a fixed point
        changed = False
        for key, item in by_name.items():
            for text in item["metadata"].get("requires_dist") or ():
                requirement = Requirement(text)
                dep = canonical(requirement.name)
                if not requirement.extras or dep not in by_name:
                    continue
                if requirement.marker and not any(requirement.marker.evaluate({"extra": extra})
                                                  for extra in wanted[key] | {""}):
                    continue
                new = set(requirement.extras) - required.get(dep, set())
                if new:
                    required.setdefault(dep, set()).update(new)
                    wanted[dep] |= new
                    changed = True
    return required


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


class Server(NamedTuple):
    """A server's own lock: ``infra/requirements-<name>.in`` resolved into ``infra/requirements-<name>.lock``.
    (A NamedTuple, not a dataclass: tests load this script by path, outside sys.modules, which dataclasses need.)"""

    name: str
    what: str  # the lock's first header line: who installs it
    follows_main: bool = False  # bare names and every shared package at requirements.lock's version
    forbidden: frozenset[str] = frozenset()  # packages the lock must not pull in

    @property
    def source(self) -> Path:
        return ROOT / "infra" / f"requirements-{self.name}.in"

    @property
    def out(self) -> Path:
        return ROOT / "infra" / f"requirements-{self.name}.lock"


SERVERS = {server.name: server for server in (
    Server("mlflow", "The MLflow server image's packages (infra/Dockerfile.mlflow)"),
    # No torch: the exported model runs on ONNX Runtime or OpenVINO; no MLflow: the runtime reads the model's files.
    Server("serving", "The model server's packages (.venv-serving, infra/Dockerfile.serving)", follows_main=True,
           forbidden=frozenset({"torch", "mlflow"})),
)}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]+\])?\s*(\S*)$")


def read_requirements(source: Path) -> dict[str, tuple[str, str]]:
    """``{canonical name: (requirement line, specifier)}`` of a ``.in`` file: ``name[extra]specifier`` lines,
    comments and blank lines skipped; anything else is refused, naming the line."""
    requirements = {}
    for number, raw in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = REQUIREMENT.match(line)
        if not match:
            raise SystemExit(f"error: {source}, line {number}: not a requirement (name[extra]specifier): {raw!r}")
        requirements[canonical(match.group(1))] = (line, match.group(3))
    return requirements


def lock_server(server: Server, main_lock: Path) -> None:
    """``server``'s lock: its ``.in`` and everything it pulls in, written atomically."""
    requirements = read_requirements(server.source)
    main = {canonical(name): (name, version) for name, version in read_pins(main_lock).items()} \
        if server.follows_main else {}
    loose = [key for key, (_, spec) in requirements.items()
             if not (spec.startswith("==") or (server.follows_main and (spec or key in main)))]
    if loose:
        raise SystemExit(f"error: {server.source}: pin {loose} (name==version)"
                         + (f" or lock them in {main_lock.name}" if server.follows_main else ""))
    # Every package of requirements.lock at its version (follows_main), but for the names the .in specifies itself.
    constraints = dict(pin for key, pin in main.items() if not requirements.get(key, ("", ""))[1])
    # Wheels only, as the installs (--only-binary :all:): the server images build nothing.
    extras: dict[str, set[str]] = {}
    resolved = resolve([line for line, _ in requirements.values()], "--only-binary", ":all:", isolated=True,
                       constraints=constraints, extras=extras)
    pulled = sorted(server.forbidden & resolved.keys())
    if pulled:
        raise SystemExit(f"error: {server.source} pulls in {pulled}, which the {server.name} lock must not hold")
    # A declared exception that resolves to requirements.lock's version is none: the .in would say what is not so.
    same = [key for key, (_, spec) in requirements.items()
            if spec and key in main and key in resolved and resolved[key][1] == main[key][1]]
    if same:
        raise SystemExit(f"error: {server.source}: {same} resolve to {main_lock.name}'s versions: "
                         "list them without a specifier")
    entries = [(name + (f"[{','.join(sorted(extras[key]))}]" if key in extras else ""), version, hashes)
               for key, (name, version, hashes) in sorted(resolved.items())]
    tmp = server.out.with_name(server.out.name + ".tmp")
    tmp.write_text(render(entries, f"# {server.what} with their sha256 hashes, from\n"
                                   f"# {server.source.name}. Written by infra/lock.py --server {server.name}.\n"),
                   encoding="utf-8")
    tmp.replace(server.out)
    print(f"{server.out}: {len(entries)} packages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", nargs="?", const="mlflow", choices=sorted(SERVERS),
                        help="write that server's lock, infra/requirements-<server>.lock, instead (default: mlflow)")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--cuda-lock", type=Path, default=ROOT / "infra" / "requirements-cuda.lock")
    parser.add_argument("--wheels", default="/opt/wheels", help="the local wheel folder holding torch's CPU wheel")
    args = parser.parse_args()
    if args.server:
        lock_server(SERVERS[args.server], args.lock)
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
