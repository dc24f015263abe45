"""A killed kfp training task resumes when it is retried.

The pipeline's own training task (``pipelines.multitask_pipeline.train_task``: the real component with its
retry policy and checkpoint wiring) runs under ``kfp.local.SubprocessRunner``, which honours ``set_retry``.
Once the task has checkpointed a few steps, the test SIGKILLs the task's process, as a node would kill a
pod. kfp.local retries the task; the new attempt finds the checkpoints under
``<pipeline root>/.checkpoints/<run id>/<variant>/``, resumes from them, and ends with the same weights and
validation metrics as an uninterrupted run. The checkpoints are gone once the task succeeded.

(No ``from __future__ import annotations`` here: kfp reads the test pipeline's annotations as types.)
"""

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from mtst.config import read_params_dict
from mtst.kfp import checkpoints, launch, sections, settings
from pipelines.multitask_pipeline import train_task

VARIANT = "retried"
STEPS = 10
KILL_AFTER = 4  # steps: a retry that started over would write a checkpoint with fewer (2), which the test sees


def retry_params(repo_root: Path) -> dict:
    """The smoke profile with one small variant whose encoder trains on the CPU (steps slow enough to kill it
    mid-run), a checkpoint every 2 steps, and one thread (the reference run in this process then adds in the
    same order). The train task's sections (model, train), as the pipeline passes them."""
    raw = read_params_dict(repo_root / "params.yaml", "smoke")
    raw["train"].update(batch_size=8, threads=1, device="cpu", checkpoint_every=2, variants={VARIANT: {
        "description": "encoder and heads, a few steps", "augment": False,
        "stages": [{"name": "all", "encoder": "all", "max_steps": STEPS, "lr_head": 0.01, "warmup_ratio": 0.0}]}})
    return sections.section_arguments(raw)["train_params"]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def is_train_task(pid: int) -> bool:
    """Whether ``pid`` is a kfp task process running the ``train`` component (kfp's executor_main)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return "kfp.dsl.executor_main" in args and args[args.index("--function_to_execute") + 1:][:1] == ["train"]


class TaskKiller(threading.Thread):
    """SIGKILLs the training task's process once, when its checkpoint holds at least ``KILL_AFTER`` steps; then
    records the steps of every checkpoint it sees, until ``done`` is set."""

    def __init__(self, checkpoint_root: Path, timeout_s: float = 600):
        super().__init__(daemon=True)
        self.checkpoint_root, self.timeout_s = checkpoint_root, timeout_s
        self.done = threading.Event()
        self.killed_pid: int | None = None
        self.killed_at_step = 0
        self.steps_seen_after_kill: set[int] = set()

    def checkpointed(self) -> int:
        for folder in self.checkpoint_root.glob(f"*/{VARIANT}/checkpoints"):
            try:
                return checkpoints.checkpointed_steps(folder)
            except OSError:  # replaced by the next checkpoint while being read
                return 0
        return 0

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self.done.is_set() and time.monotonic() < deadline:
            steps = self.checkpointed()
            if self.killed_pid is None and steps >= KILL_AFTER:
                pids = [pid for pid in descendants(os.getpid()) if is_train_task(pid)]
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                if pids:
                    self.killed_pid = pids[0]
                    time.sleep(0.5)  # the process is gone: its last checkpoint is what the retry finds
                    self.killed_at_step = self.checkpointed()
            elif self.killed_pid is not None and steps:
                self.steps_seen_after_kill.add(steps)
            time.sleep(0.05)


@pytest.mark.timeout(900)
def test_killed_training_task_is_retried_and_resumes(mini_splits, repo_root, tmp_path, capfd):
    from kfp import dsl
    from kfp.dsl import Dataset

    from mtst.kfp.local import run_locally

    @dsl.pipeline(name="mtst-train-retry")
    def train_only(train_params: dict, variant: str, accelerator_type: str = "nvidia.com/gpu",
                   accelerator_count: int = 0, train_nproc: int = 1):
        splits = dsl.importer(artifact_uri=str(mini_splits), artifact_class=Dataset, reimport=False)
        train_task(train_params, variant, splits.output, splits.output, accelerator_type=accelerator_type,
                          accelerator_count=accelerator_count, nproc=train_nproc,
                          retry_backoff=settings.LOCAL_TRAIN_RETRY_BACKOFF)

    train_params = retry_params(repo_root)
    root = tmp_path / "kfp"
    killer = TaskKiller(root / ".checkpoints")
    killer.start()
    try:
        run_locally(train_only, {"train_params": train_params, "variant": VARIANT}, root=root)
    finally:
        killer.done.set()
        killer.join(timeout=5)
    log = capfd.readouterr().out

    assert killer.killed_pid is not None, f"the training task finished before a checkpoint of {KILL_AFTER} steps"
    assert KILL_AFTER <= killer.killed_at_step < STEPS
    # the retry went on from the killed attempt's checkpoint: every checkpoint it wrote holds more steps
    assert min(killer.steps_seen_after_kill) == killer.killed_at_step < max(killer.steps_seen_after_kill)
    (task_dir,) = [p.parent for p in root.glob("mtst-train-retry-*/train/executor_output.json")]
    model = json.loads((task_dir / "executor_output.json").read_text())["artifacts"]["model"]["artifacts"][0]
    assert model["metadata"] == {"variant": VARIANT, "resumed_from_step": killer.killed_at_step}
    assert f"(resuming from step {killer.killed_at_step}, checkpointed by an earlier attempt)" in log
    assert not any((root / ".checkpoints").iterdir())  # removed once the task succeeded

    out = task_dir / "model"
    reference = tmp_path / "reference"
    expected = launch.train_variant(train_params, VARIANT, mini_splits, reference, checkpoint_dir=tmp_path / "ref-ckpt")
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == expected["steps"] == STEPS
    assert len((out / "history.jsonl").read_text().splitlines()) == STEPS
    for task in ("task_a", "task_b"):
        assert summary["validation"][task]["macro_f1"] == pytest.approx(expected["validation"][task]["macro_f1"],
                                                                         abs=1e-6)
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        a, b = load_file(str(reference / "model" / name)), load_file(str(out / "model" / name))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-6, err_msg=key)
