"""Checkpoints that a retry of a training task finds: ``<root>/<run id>/<variant>/``, kept until it succeeds.

A retried task is a new process (a new pod on a cluster); the pipeline wires in a root every attempt sees
(the checkpoint claim's mount, or kfp.local's pipeline root), and the trainer resumes from what is there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from mtst.config import ConfigError
from mtst.kfp.artifacts import scratch_dir
from mtst.names import child

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""What a resolved run id looks like (a KFP run UUID; kfp.local's random number): one safe folder name."""


@dataclass(frozen=True)
class TaskCheckpoints:
    """Where one training task keeps its checkpoints. ``folder`` belongs to this task alone (the trainer's
    checkpoints, their lock and temporaries live in it); ``shared``: every attempt of the task in this
    pipeline run sees it, so a retry resumes; ``resume_step``: the steps an earlier attempt checkpointed."""

    folder: Path
    shared: bool
    resume_step: int

    @property
    def path(self) -> Path:
        """The trainer's checkpoint folder (``checkpoint_dir``)."""
        return self.folder / "checkpoints"


def task_checkpoints(checkpoint_root: str, pipeline_run_id: str, variant: str) -> TaskCheckpoints:
    """``<checkpoint_root>/<run id>/<variant>/``: the same folder for every attempt of this task in this run.

    ``checkpoint_root`` is what the pipeline wires in: the mount of the checkpoint claim on a cluster, the
    local pipeline root's ``.checkpoints`` under kfp.local. Anything that is not a folder path here (the
    cluster's object-store pipeline root, or a placeholder the backend left unresolved) gives a private
    temporary folder instead, and the log says that a retry will start from step 0."""
    root = Path(checkpoint_root) if checkpoint_root and "{{" not in checkpoint_root else None
    if root is None or not root.is_absolute() or not RUN_ID_PATTERN.fullmatch(pipeline_run_id or ""):
        folder = scratch_dir("checkpoints")
        print(f"checkpoints: {folder}, private to this attempt (checkpoint root {checkpoint_root!r}, run id "
              f"{pipeline_run_id!r}): a retry starts from step 0; compile with --checkpoint-pvc CLAIM to keep "
              "them on a volume", flush=True)
        return TaskCheckpoints(folder, False, 0)
    folder = child(child(root, pipeline_run_id, "pipeline run id"), variant)  # on a shared volume: never outside it
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"checkpoint folder {folder} cannot be created by this task (uid {os.getuid()}): "
                          f"{exc.strerror}; make the checkpoint volume writable for the image's user "
                          "(e.g. the pod's fsGroup)") from None
    step = checkpointed_steps(folder / "checkpoints")
    print(f"checkpoints: {folder / 'checkpoints'} "
          + (f"(resuming from step {step}, checkpointed by an earlier attempt)" if step
             else "(kept for a retry of this task; removed once it succeeds)"), flush=True)
    return TaskCheckpoints(folder, True, step)


def checkpointed_steps(checkpoint_dir: str | Path) -> int:
    """Training steps the checkpoint in ``checkpoint_dir`` holds (its history has one record per step);
    0 when there is none (the trainer resumes only from a complete checkpoint: its state file exists)."""
    from mtst.training.checkpoint import HISTORY, STATE

    folder = Path(checkpoint_dir)
    if not (folder / STATE).is_file():
        return 0
    return sum(1 for line in (folder / HISTORY).read_text(encoding="utf-8").splitlines() if line.strip())


def release_checkpoints(checkpoints: TaskCheckpoints) -> None:
    """After the task trained: remove its folder, and the run's folder once no other variant uses it."""
    shutil.rmtree(checkpoints.folder, ignore_errors=True)
    if checkpoints.shared:
        with contextlib.suppress(OSError):  # not empty: another variant of this run is still training
            checkpoints.folder.parent.rmdir()

