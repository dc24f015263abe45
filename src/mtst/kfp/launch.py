"""How the kfp ``train`` component trains one variant: in this process, or as N processes under torchrun
(one per GPU of the pod, or CPU processes with gloo) that write the same folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mtst.config import ConfigError
from mtst.kfp import sections
from mtst.kfp.artifacts import read_json
from mtst.contracts.training import SUMMARY


class TrainLaunchError(RuntimeError):
    """``torchrun`` exited non-zero; the message ends with the tail of its log (every rank's output)."""


def torchrun_command(nproc: int, variant: str, *, params_file: str | Path, splits: str | Path, out: str | Path,
                     augmented: str | Path | None = None, init_from: str | Path | None = None,
                     checkpoints: str | Path | None = None, resume: bool = False, nnodes: int | None = None,
                     python: str | None = None) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc-per-node N -m mtst.cli train ...``: the same
    arguments ``mtst train`` takes, for ``nproc`` processes in this pod (``--standalone``: a rendezvous on
    localhost with a free port, one node). ``nnodes`` > 1 drops ``--standalone`` and leaves the rendezvous to
    torchrun's ``PET_*`` environment (what the Kubeflow training operators set)."""
    if int(nproc) < 1:
        raise ConfigError(f"train_nproc must be at least 1, got {nproc}")
    launcher = [python or sys.executable, "-m", "torch.distributed.run"]
    launcher += ["--standalone"] if not nnodes or nnodes == 1 else [f"--nnodes={int(nnodes)}"]
    launcher += [f"--nproc-per-node={int(nproc)}"]
    args = ["-m", "mtst.cli", "train", "--variant", variant, "--params", str(params_file), "--splits", str(splits),
            "--out", str(out)]
    for flag, value in (("--augmented", augmented), ("--init-from", init_from), ("--checkpoints", checkpoints)):
        if value is not None:
            args += [flag, str(value)]
    if resume:
        args.append("--resume")
    return launcher + args


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by the cgroup v2 quota (a pod's CPU limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def torchrun_params(train_params: Mapping[str, Any], variant: str, init_from: str = "") -> dict[str, Any]:
    """The params file ``mtst train`` reads under torchrun: the task's sections, the follow-up declared as in
    params.yaml (``pipeline``), tracking off (training logs nothing to MLflow; evaluate does)."""
    raw: dict[str, Any] = {**sections.plain(train_params), "tracking": {"enabled": False}}
    if init_from:
        raw["pipeline"] = {"variants": [init_from], "followups": {variant: init_from}}
    return raw


def train_variant(train_params: Mapping[str, Any], variant: str, splits: str | Path, out: str | Path,
                  augmented: str | Path | None = None, init_from: str = "", init_dir: str | Path | None = None,
                  checkpoint_dir: str | Path | None = None, resume: bool = False, nproc: int = 1) -> dict[str, Any]:
    """Train one variant as the kfp ``train`` component does (``train_params``: its sections,
    ``init_from``: the variant whose model, in ``init_dir``, it starts from): in this process when ``nproc``
    is 1, else as ``nproc`` processes under torchrun; returns the train summary either way. ``resume``:
    continue from the checkpoint in ``checkpoint_dir`` if there is one (a retried task), else start afresh."""
    params = sections.parse("train", train_params, {variant: init_from} if init_from else None)  # fails here
    if int(nproc) < 1:
        raise ConfigError(f"train_nproc must be at least 1, got {nproc}")
    if int(nproc) == 1:
        from mtst.steps import train as step

        return step.run(params, variant, splits, out, augmented, init_dir=init_dir, checkpoint_dir=checkpoint_dir,
                        resume=resume, show_progress=False)

    with tempfile.TemporaryDirectory(prefix="mtst-torchrun-") as tmp:
        params_file = Path(tmp) / "params.yaml"
        params_file.write_text(yaml.safe_dump(torchrun_params(train_params, variant, init_from), sort_keys=False),
                               encoding="utf-8")
        command = torchrun_command(nproc, variant, params_file=params_file, splits=splits, out=out,
                                   augmented=augmented, init_from=init_dir, checkpoints=checkpoint_dir,
                                   resume=resume)
        env = {**os.environ, "TQDM_DISABLE": "1"}  # no progress bars in task logs (show_progress=False)
        if "OMP_NUM_THREADS" not in env and not params.train.threads:
            # torchrun would set 1; share the pod's CPUs (its cgroup quota) between the processes instead
            env["OMP_NUM_THREADS"] = str(max(1, available_cpus() // int(nproc)))
        log = Path(tmp) / "torchrun.log"
        with open(log, "w+", encoding="utf-8", errors="replace") as sink:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace")
            assert proc.stdout is not None
            for line in proc.stdout:  # streamed to the task log and kept for the error message
                print(line, end="", flush=True)
                sink.write(line)
            code = proc.wait()
            if code != 0:
                sink.seek(0)
                tail = sink.read()[-4000:]
                raise TrainLaunchError(f"torchrun with {nproc} processes exited with code {code}: "
                                       f"{' '.join(command)}\n{tail}")
    return read_json(out, SUMMARY)
