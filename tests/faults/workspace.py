"""The scratch workspace a step is run and killed in: its own ``params.yaml`` copy, MLflow store and TMPDIR.

A step runs as the real ``mtst`` CLI subprocess in its own process group, so a SIGKILL takes down whatever
it started too; what interrupted atomic writes leave behind (``strays``) is looked for across the workspace.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mtst.environment import default, env_name

from .steps import Step

STRAY = re.compile(r"^\..+\.(tmp|old)$")  # what mtst.io's atomic writes leave behind when killed
FAILPOINT_TIMEOUT_S = 1800
CACHES = ("torchinductor_",)  # TMPDIR entries that are caches by design (torch's compile cache), not leftovers
ENV_DEFAULTS = {"MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class Workspace:
    """A scratch project folder: params and profiles copied from ``project``, its own MLflow store and TMPDIR."""

    root: Path
    project: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, root: str | Path, project: str | Path) -> Workspace:
        root, project = Path(root).resolve(), Path(project).resolve()
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project / "params.yaml", root / "params.yaml")
        shutil.copytree(project / "profiles", root / "profiles", dirs_exist_ok=True)
        (root / "tmp").mkdir(exist_ok=True)
        env = {**os.environ, **ENV_DEFAULTS,
               "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
               env_name("source_cache"): str(project / default("source_cache")),
               "NLTK_DATA": os.environ.get("NLTK_DATA", str(project / ".cache" / "nltk_data")),
               "TMPDIR": str(root / "tmp"), "PYTHONUNBUFFERED": "1"}
        for setting in ("pipeline_id",):  # the steps' own default identity, as dvc repro has it
            env.pop(env_name(setting), None)
        return cls(root, project, env)

    def command(self, step: Step) -> list[str]:
        script = Path(sys.executable).with_name("mtst")
        base = [str(script)] if script.exists() else [sys.executable, "-m", "mtst.cli"]
        return [*base, *step.args]

    def start(self, step: Step, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with log.open("ab") as fh:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(self.command(step), cwd=self.root, env=env or self.env, stdout=fh, stderr=fh,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def log_path(self, step: Step) -> Path:
        folder = self.root / ".faults" / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{step.name}.log"

    def run(self, step: Step, timeout: float = 1800) -> float:
        """Run ``step`` to completion; its wall seconds. A failure raises with the log's tail."""
        log = self.log_path(step)
        start = time.perf_counter()
        proc = self.start(step, log)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise
        if code != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"`mtst {' '.join(step.args)}` exited {code}:\n{tail}")
        return time.perf_counter() - start

    def kill_after(self, step: Step, delay: float | None, failpoints: str | None = None) -> bool:
        """Start ``step`` and SIGKILL its process group after ``delay`` seconds, or let it die at a failpoint
        (``MTST_FAILPOINTS``, see mtst.failpoints); True if it was killed, False if it finished first."""
        env = {**self.env, env_name("failpoints"): failpoints} if failpoints else self.env
        proc = self.start(step, self.log_path(step), env)
        try:
            proc.wait(timeout=delay if delay is not None else FAILPOINT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return True
        if proc.returncode == -signal.SIGKILL and failpoints:
            return True
        if proc.returncode != 0:
            raise RuntimeError(f"`mtst {' '.join(step.args)}` exited {proc.returncode} before it was killed; "
                               f"see {self.log_path(step)}")
        return False

    def strays(self) -> list[str]:
        """Leftovers of interrupted atomic writes (``.<name>.*.tmp``, ``.<name>.old``) anywhere in the
        workspace, and anything left in its TMPDIR."""
        found = [str(p.relative_to(self.root)) for p in _walk(self.root, skip={".faults", "tmp", "profiles"})
                 if STRAY.match(p.name)]
        found += [str(p.relative_to(self.root)) for p in sorted((self.root / "tmp").iterdir())
                  if not p.name.startswith(CACHES)]
        return sorted(found)

    def clear_strays(self) -> None:
        for name in self.strays():
            remove(self.root / name)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _walk(root: Path, skip: set[str]) -> Iterator[Path]:
    for entry in sorted(root.iterdir()):
        if entry.name in skip and entry.parent == root:
            continue
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry, skip)


def remove(path: Path) -> None:
    """Delete a file, folder or link if it is there (a planted or killed output, a stray)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
