"""`mtst train` under torchrun: 2 CPU processes (gloo) end where 1 process with the same global batch ends.

Dropout is switched off for this comparison (encoder and heads): with dropout on, each rank draws masks
for its half of the batch from its own generator, so the runs differ by design, not by a bug. What is
left is float summation order (row-weighted all-reduce vs one batch mean), about 1e-7 relative per
step; Adam normalises updates, so after ~16 steps weights agree to ~1e-5 and metrics exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from helpers.mlflow_server import free_port

from mtst.config import load_params, read_params_dict
from mtst.steps import prepare

VARIANT = {
    "description": "every kind of stage, short",
    "stages": [
        {"name": "heads", "encoder": "frozen", "max_steps": 6, "lr_head": 0.01},
        {"name": "unfreeze", "encoder": "gradual", "max_steps": 6,
         "unfreeze": {"initial_layers": 1, "layers_per_step": 1, "every_steps": 2}},
        {"name": "curriculum", "encoder": "all", "max_steps": 4,
         "curriculum": {"target": "both", "start": {"task_a": 0.7, "task_b": 0.3}, "end": {"task_a": 0.3, "task_b": 0.7}}},
    ],
}


@pytest.fixture(scope="module")
def ddp_setup(repo_root, data_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("ddp")
    raw = read_params_dict(repo_root / "params.yaml", "smoke")
    raw["model"].update(encoder_dropout=0.0, head_dropout=0.0)
    # fp32: what is compared is the gradient averaging; bf16 autocast (train.bf16: auto on a CPU with AVX512-BF16)
    # rounds each rank's half batch differently from the whole batch
    raw["train"].update(batch_size=16, checkpoint_every=1000, bf16=False, variants={"ddp_check": VARIANT})
    raw["pipeline"] = {"variants": ["ddp_check"], "followups": {}}
    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    prepare.run(load_params(work / "params.yaml").prepare, data_dir, work / "splits")
    return work


def _train(work, out: str, nproc: int, *extra: str, failpoints: str = "") -> subprocess.CompletedProcess:
    args = ["-m", "mtst.cli", "train", "--variant", "ddp_check", "--params", str(work / "params.yaml"),
            "--splits", str(work / "splits"), "--out", str(work / out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MTST_EMBEDDING_CACHE": str(work / "cache"),
           "MTST_FAILPOINTS": failpoints, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}  # rank 0 logs
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
               f"--master-port={free_port()}", *args]
    else:
        cmd = [sys.executable, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_processes(ddp_setup):
    """The uninterrupted 2-process run (both tests compare against it)."""
    two = _train(ddp_setup, "two", 2)
    assert two.returncode == 0, two.stderr[-3000:]
    return ddp_setup / "two"


@pytest.mark.timeout(900)
def test_two_processes_match_one_with_the_same_global_batch(ddp_setup, two_processes):
    one = _train(ddp_setup, "one", 1)
    assert one.returncode == 0, one.stderr[-3000:]

    s1 = json.loads((ddp_setup / "one" / "train_summary.json").read_text())
    s2 = json.loads((ddp_setup / "two" / "train_summary.json").read_text())
    assert s2["world_size"] == 2 and s1["world_size"] == 1
    assert s1["steps"] == s2["steps"] == 16
    h1 = [json.loads(x) for x in (ddp_setup / "one" / "history.jsonl").read_text().splitlines()]
    h2 = [json.loads(x) for x in (ddp_setup / "two" / "history.jsonl").read_text().splitlines()]
    assert [r["task"] for r in h1] == [r["task"] for r in h2]  # every rank drew the same task per step
    np.testing.assert_allclose([r["loss/" + r["task"]] for r in h2], [r["loss/" + r["task"]] for r in h1], rtol=1e-4)
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        a, b = load_file(str(ddp_setup / "one" / "model" / name)), load_file(str(ddp_setup / "two" / "model" / name))
        for key in a:
            np.testing.assert_allclose(b[key].numpy(), a[key].numpy(), atol=5e-5, err_msg=key)
    for task in ("task_a", "task_b"):
        assert abs(s1["validation"][task]["macro_f1"] - s2["validation"][task]["macro_f1"]) < 0.01
    # only rank 0 wrote: one summary, and no stray per-rank outputs
    assert sorted(p.name for p in ddp_setup.iterdir() if p.name.startswith("two") and p.name != "two_killed") == ["two"]


@pytest.mark.timeout(900)
def test_two_processes_killed_between_stages_resume_to_the_uninterrupted_result(ddp_setup, two_processes):
    """SIGKILL in the second stage (the newest checkpoint is the first stage's end) under torchrun, then resume."""
    killed = _train(ddp_setup, "two_killed", 2, failpoints="train.step=9")
    assert killed.returncode != 0 and not (ddp_setup / "two_killed").exists()
    state = torch.load(ddp_setup / ".checkpoints" / "two_killed" / "state.pt", weights_only=True)
    assert (state["stage_index"], state["step_in_stage"]) == (1, 0)
    resumed = _train(ddp_setup, "two_killed", 2, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        a = load_file(str(two_processes / "model" / name))
        b = load_file(str(ddp_setup / "two_killed" / "model" / name))
        for key in a:
            np.testing.assert_allclose(b[key].numpy(), a[key].numpy(), atol=1e-6, err_msg=key)
    s1 = json.loads((two_processes / "train_summary.json").read_text())
    s2 = json.loads((ddp_setup / "two_killed" / "train_summary.json").read_text())
    assert s2["steps"] == s1["steps"] == 16 and s2["resumed_from_step"] == 6
    for task in ("task_a", "task_b"):
        assert s2["validation"][task] == pytest.approx(s1["validation"][task], abs=1e-9)
