"""The smoke pipeline run once by `dvc repro` in a copy of the repository: the reference the kfp runners are
compared with (subprocess and docker), and the repository the DVC tools are tried on. One run for the whole
session: the smoke DAG is the suite's most expensive piece of work, and every runner must give its numbers."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TIMING_PREFIXES = ("inference.", "train.wall_s")
"""Metrics that differ between any two runs (they time the machine); everything else must match."""


def sh(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass(frozen=True)
class DvcSmoke:
    """The copy (``work``, a git repository of its own), the environment its commands run in, what the first
    ``dvc repro`` printed, and each variant's metrics as that run left them (read before any test changes the
    copy)."""

    work: Path
    env: dict[str, str]
    first_stdout: str
    metrics: dict[str, dict]


def copy_repo(repo_root: Path, data_dir: Path, work: Path) -> dict[str, str]:
    """The tracked (and not ignored) files plus data/ copied to ``work``, committed to a fresh git repository on
    the smoke profile; returns the environment to run its commands in."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=repo_root,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (repo_root / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / name, work / name)
    shutil.copytree(data_dir, work / "data")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MTST_EMBEDDING_CACHE": str(repo_root / ".cache" / "embeddings"),
           "NLTK_DATA": os.environ.get("NLTK_DATA", str(repo_root / ".cache" / "nltk_data"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    sh([f"{bin_dir}/mtst", "params", "use", "smoke"], work, env)
    commit(work, env, "copy", init=True)
    return env


def commit(work: Path, env: dict[str, str], message: str, init: bool = False) -> None:
    if init:
        sh(["git", "init", "-q", "-b", "main"], work, env)
    sh(["git", "add", "-A"], work, env)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], work, env)


def run_dvc_smoke(repo_root: Path, data_dir: Path, work: Path) -> DvcSmoke:
    """``dvc repro`` of the whole DAG on the smoke profile in a copy of the repository under ``work``."""
    env = copy_repo(repo_root, data_dir, work)
    first = sh([sys.executable, "-m", "dvc", "repro"], work, env)
    metrics = {path.stem: json.loads(path.read_text()) for path in sorted((work / "metrics").glob("*.json"))}
    return DvcSmoke(work, env, first.stdout, metrics)


def assert_same_metrics(ours: dict, reference: dict, variant: str) -> None:
    """Every metric but the timings equal (floats within 1e-6), and the same keys."""
    keys = {k for k in reference if not k.startswith(TIMING_PREFIXES)}
    assert {"task_a.macro_f1", "task_b.macro_f1"} <= keys
    assert keys == {k for k in ours if not k.startswith(TIMING_PREFIXES)}, variant
    for key in sorted(keys):
        if isinstance(reference[key], (int, float)):
            assert math.isclose(ours[key], reference[key], rel_tol=1e-6, abs_tol=1e-6), \
                (variant, key, ours[key], reference[key])
        else:
            assert ours[key] == reference[key], (variant, key)
