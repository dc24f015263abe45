"""Crash recovery of `mtst train`: a real run killed with SIGKILL at seeded points — mid-stage, right after
a stage-end checkpoint, between the two renames of a checkpoint write — resumes each time and ends where
an uninterrupted run with the same seed ends. Kills land through failpoints (``MTST_FAILPOINTS``), so each
hits the instant it names rather than whatever a timer happens to hit. Also: a resume with other params or
other data is refused, and so are output folders mtst did not create and folders another run holds."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from mtst.config import load_params, read_params_dict
from mtst.locking import folder_lock
from mtst.steps import prepare

SEED = 20261127


@pytest.fixture(scope="module")
def work(repo_root, data_dir, tmp_path_factory) -> Path:
    """Smoke params (staged without augmentation: the augment step has its own tests) and smoke splits."""
    work = tmp_path_factory.mktemp("resume")
    raw = read_params_dict(repo_root / "params.yaml", "smoke")
    raw["train"]["variants"]["staged"]["augment"] = False
    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    prepare.run(load_params(work / "params.yaml").prepare, data_dir, work / "splits")
    return work


def _train(work: Path, out: str, *extra: str, failpoints: str = "", params: Path | None = None,
           splits: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mtst.cli", "train", "--variant", "staged", "--params", str(params or work / "params.yaml"),
           "--splits", str(splits or work / "splits"), "--out", str(work / out), "--no-track", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MTST_EMBEDDING_CACHE": str(work / "cache")}
    env.pop("MTST_FAILPOINTS", None)
    if failpoints:
        env["MTST_FAILPOINTS"] = failpoints
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _killed(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == -signal.SIGKILL


def _state(checkpoints: Path) -> tuple[int, int]:
    state = torch.load(checkpoints / "state.pt", weights_only=True)
    return int(state["stage_index"]), int(state["step_in_stage"])


@pytest.fixture(scope="module")
def reference(work: Path) -> Path:
    result = _train(work, "ref")
    assert result.returncode == 0, result.stderr[-3000:]
    return work / "ref"


@pytest.mark.timeout(2400)  # a few minutes on a quiet 2-core machine; generous for a loaded one
def test_staged_killed_at_seeded_points_resumes_to_the_uninterrupted_result(work, reference):
    rng = random.Random(SEED)
    out, checkpoints = work / "killed", work / ".checkpoints" / "killed"

    # 1. mid-stage in the heads stage (checkpoints every 10 steps; 30 steps a stage on the smoke profile)
    first = _train(work, "killed", failpoints=f"train.step={rng.randint(11, 29)}")
    assert _killed(first), first.stderr[-2000:]
    assert not out.exists() and _state(checkpoints)[0] == 0

    # 2. right after the stage-end checkpoint: the next start has no optimiser state to restore
    second = _train(work, "killed", "--resume", failpoints="train.stage_end=1")
    assert _killed(second), second.stderr[-2000:]
    assert _state(checkpoints) == (1, 0)

    # a resume with other settings or other data is refused and names the difference
    changed = yaml.safe_load((work / "params.yaml").read_text())
    changed["train"]["batch_size"] = 16
    (work / "changed.yaml").write_text(yaml.safe_dump(changed))
    other_params = _train(work, "killed", "--resume", params=work / "changed.yaml")
    assert other_params.returncode == 2 and "train.batch_size: 32 in the checkpoint, 16 now" in other_params.stderr
    other_splits = work / "other_splits"
    for task in ("task_a", "task_b"):
        for split in ("train", "validation", "test"):
            lines = (work / "splits" / task / f"{split}.jsonl").read_text().splitlines(keepends=True)
            (other_splits / task).mkdir(parents=True, exist_ok=True)
            (other_splits / task / f"{split}.jsonl").write_text("".join(lines[:-1] if (task, split) == ("task_b", "train") else lines))
    other_data = _train(work, "killed", "--resume", splits=other_splits)
    assert other_data.returncode == 2 and "data.train.task_b" in other_data.stderr
    assert "Traceback" not in other_params.stderr + other_data.stderr
    assert _state(checkpoints) == (1, 0)  # refusing touched nothing

    # 3. during a checkpoint write, between moving the old checkpoint aside and moving the new one in
    third = _train(work, "killed", "--resume", failpoints="io.between_renames=1")
    assert _killed(third), third.stderr[-2000:]
    assert not checkpoints.exists() and (checkpoints.parent / ".killed.old" / "state.pt").exists()

    # 4. mid-stage again, in the encoder-training stages (23 + 9 steps; the stage-end checkpoint comes back first)
    fourth = _train(work, "killed", "--resume", failpoints=f"train.step={rng.randint(5, 30)}")
    assert _killed(fourth), fourth.stderr[-2000:]
    assert not (checkpoints.parent / ".killed.old").exists()

    final = _train(work, "killed", "--resume")
    assert final.returncode == 0, final.stderr[-3000:]
    assert not checkpoints.exists(), "checkpoints are removed once the variant finished"
    assert not [p.name for p in checkpoints.parent.iterdir() if p.name.endswith((".tmp", ".old"))]
    _assert_same_run(reference, out)


def _assert_same_run(reference: Path, out: Path) -> None:
    ref_summary = json.loads((reference / "train_summary.json").read_text())
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == ref_summary["steps"] == 30 + 23 + 9  # heads (capped), unfreeze, curriculum
    for task in ("task_a", "task_b"):
        assert summary["validation"][task] == pytest.approx(ref_summary["validation"][task], abs=1e-9)
    assert summary["validation_by_stage"].keys() == ref_summary["validation_by_stage"].keys() == {"heads", "unfreeze", "curriculum"}
    for stage, scores in ref_summary["validation_by_stage"].items():
        for task in scores:
            assert summary["validation_by_stage"][stage][task] == pytest.approx(scores[task], abs=1e-9)
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        a, b = load_file(str(reference / "model" / name)), load_file(str(out / "model" / name))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-6, err_msg=key)
    ref_history = [json.loads(x) for x in (reference / "history.jsonl").read_text().splitlines()]
    history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history] == list(range(summary["steps"]))
    assert [r["task"] for r in history] == [r["task"] for r in ref_history]
    assert [r["loss/" + r["task"]] for r in history] == pytest.approx([r["loss/" + r["task"]] for r in ref_history], abs=1e-5)


def test_folders_mtst_did_not_create_are_refused_and_kept(work):
    mine = work / "my_results"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's own work")
    as_out = _train(work, "my_results")
    as_checkpoints = _train(work, "fresh", "--checkpoints", str(mine))
    for result in (as_out, as_checkpoints):
        assert result.returncode == 2, result.stderr[-2000:]
        assert f"refusing to use {mine}" in result.stderr and "Traceback" not in result.stderr
    assert (mine / "notes.txt").read_text() == "a user's own work"
    assert not (work / "fresh").exists()


@pytest.mark.parametrize("which", ["out", "checkpoints"])
def test_a_second_run_on_a_held_folder_is_refused(work, which):
    target = work / "held" if which == "out" else work / ".checkpoints" / "held"
    with folder_lock(target, "test"):  # a real flock, held by this (live) process
        result = _train(work, "held")
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{target} is in use by process {os.getpid()}" in result.stderr
    assert not (work / "held").exists()
