"""A real training run killed with SIGKILL resumes from its checkpoint and ends where an uninterrupted
run with the same seed ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mtst.config import load_params
from mtst.steps import prepare


def _train_cmd(repo: Path, splits: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mtst.cli", "train", "--variant", "full", "--profile", "smoke",
            "--params", str(repo / "params.yaml"), "--splits", str(splits), "--out", str(out), *extra]


def _checkpoint_step(state: Path) -> int:
    try:
        return int(torch.load(state, weights_only=False)["step_in_stage"])
    except Exception:  # being written or not there yet
        return -1


@pytest.mark.timeout(600)
def test_sigkill_then_resume_matches_uninterrupted_run(repo_root, data_dir, tmp_path):
    params = load_params(repo_root / "params.yaml", "smoke")
    splits = tmp_path / "splits"
    prepare.run(params.prepare, data_dir, splits)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}

    reference = subprocess.run(_train_cmd(repo_root, splits, tmp_path / "ref"), env=env, capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr[-2000:]

    out = tmp_path / "killed"
    state = tmp_path / ".checkpoints" / "killed" / "state.pt"
    proc = subprocess.Popen(_train_cmd(repo_root, splits, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and _checkpoint_step(state) < 10:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _checkpoint_step(state)
    assert 10 <= killed_at < 30 and not out.exists()  # nothing final was written by the killed run

    resumed = subprocess.run(_train_cmd(repo_root, splits, out, "--resume"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    ref_summary = json.loads((tmp_path / "ref" / "train_summary.json").read_text())
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == ref_summary["steps"]
    for task in ("task_a", "task_b"):
        assert summary["validation"][task] == pytest.approx(ref_summary["validation"][task], abs=1e-9)
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        a, b = load_file(str(tmp_path / "ref" / "model" / name)), load_file(str(out / "model" / name))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-6, err_msg=key)
    ref_losses = [r["loss/" + r["task"]] for r in map(json.loads, (tmp_path / "ref" / "history.jsonl").read_text().splitlines())]
    losses = [r["loss/" + r["task"]] for r in map(json.loads, (out / "history.jsonl").read_text().splitlines())]
    assert losses == pytest.approx(ref_losses, abs=1e-5)
