"""Training on the real smoke-profile data: what each stage trains, the samplers, the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import get_linear_schedule_with_warmup

from mtst.config import load_params
from mtst.model.encoder import default_encoder_path
from mtst.steps import prepare, train
from mtst.training.batching import TaskBatchSampler, epoch_batches, steps_for
from mtst.training.optim import build_scheduler
from mtst.training.sampling import curriculum_mix, task_probabilities
from mtst.training.schema import CurriculumParams, SamplingParams, VariantParams


@pytest.fixture(scope="module")
def smoke(repo_root, data_dir, tmp_path_factory):
    params = load_params(repo_root / "params.yaml", "smoke")
    splits = tmp_path_factory.mktemp("splits")
    prepare.run(params.prepare, data_dir, splits)
    return params, splits


def _with_variant(params, name: str, spec: dict):
    variants = dict(params.train.variants)
    variants[name] = VariantParams.model_validate(spec)
    return params.model_copy(update={"train": params.train.model_copy(update={"variants": variants})})


def test_sampling_probabilities():
    sizes = {"task_a": 9000, "task_b": 1000}
    assert task_probabilities(sizes, SamplingParams(strategy="proportional")) == {"task_a": 0.9, "task_b": 0.1}
    t2 = task_probabilities(sizes, SamplingParams(strategy="temperature", temperature=2.0))
    assert t2["task_b"] == pytest.approx(1000 ** 0.5 / (9000 ** 0.5 + 1000 ** 0.5))
    flat = task_probabilities(sizes, SamplingParams(strategy="temperature", temperature=1e6))
    assert flat["task_b"] == pytest.approx(0.5, abs=1e-4)


def test_curriculum_moves_from_start_to_end():
    c = CurriculumParams(start={"task_a": 0.8, "task_b": 0.2}, end={"task_a": 0.2, "task_b": 0.8})
    assert curriculum_mix(c, 0.0, ["task_a", "task_b"]) == pytest.approx({"task_a": 0.8, "task_b": 0.2})
    assert curriculum_mix(c, 0.5, ["task_a", "task_b"]) == pytest.approx({"task_a": 0.5, "task_b": 0.5})
    assert curriculum_mix(c, 1.0, ["task_a", "task_b"]) == pytest.approx({"task_a": 0.2, "task_b": 0.8})


def test_length_grouped_batches_cover_every_row_once_and_cut_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=1000)
    batches = epoch_batches(lengths, 32, np.random.default_rng(1), group_by_length=True)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    grouped = sum(len(b) * lengths[b].max() for b in batches)
    plain = sum(len(b) * lengths[b].max() for b in epoch_batches(lengths, 32, np.random.default_rng(1), False))
    assert grouped < 0.75 * plain


def test_sampler_is_a_function_of_its_counters():
    sizes = {"task_a": np.arange(100) % 17 + 3, "task_b": np.arange(40) % 11 + 3}
    first = TaskBatchSampler(sizes, 8, seed=5, stage_index=1)
    draws = [(first.choose_task(s, {"task_a": 0.6, "task_b": 0.4}, False), first.next_batch("task_a").tolist()) for s in range(30)]
    state = first.state_dict()
    resumed = TaskBatchSampler(sizes, 8, seed=5, stage_index=1)
    replay = TaskBatchSampler(sizes, 8, seed=5, stage_index=1)
    for s in range(30):
        replay.choose_task(s, {"task_a": 0.6, "task_b": 0.4}, False)
        replay.next_batch("task_a")
    resumed.load_state_dict(state)
    assert resumed.next_batch("task_a").tolist() == replay.next_batch("task_a").tolist()
    again = TaskBatchSampler(sizes, 8, seed=5, stage_index=1)
    assert draws == [(again.choose_task(s, {"task_a": 0.6, "task_b": 0.4}, False), again.next_batch("task_a").tolist()) for s in range(30)]
    assert {t for t, _ in draws} == {"task_a", "task_b"}


def _lrs(make_scheduler, total: int) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(("total", "ratio"), [(23, 0.1), (100, 0.06), (40, 0.0), (7, 0.5)])
def test_schedule_warms_up_from_the_first_step_then_decays_linearly(total, ratio):
    """Why optim.py keeps its own schedule: transformers' warms up one step later (lr 0 at step 0); the decay
    is the same. Should transformers ever match, this fails and optim.py should use it."""
    ours = _lrs(lambda o: build_scheduler(o, total, ratio), total)
    warmup = int(total * ratio)
    expected = [(s + 1) / warmup if s < warmup else (total - s) / (total - warmup) for s in range(total)]
    assert ours == pytest.approx(expected, rel=0, abs=1e-15)
    theirs = _lrs(lambda o: get_linear_schedule_with_warmup(o, warmup, total), total)
    assert ours[warmup:] == theirs[warmup:]
    assert (ours[:warmup] == theirs[:warmup]) == (warmup == 0)
    if warmup:
        assert theirs[0] == 0.0 and ours[0] == 1 / warmup


def test_steps_for_counts_all_tasks():
    assert steps_for(1.0, {"task_a": 640, "task_b": 320}, 32) == 30
    assert steps_for(0.5, {"task_a": 640}, 32) == 10


def test_frozen_variant_keeps_encoder_bitwise_and_writes_outputs(smoke, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from mtst.config import TrackingParams

    params, splits = smoke
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    summary = train.run(params, "frozen", splits, tmp_path / "frozen", show_progress=False,
                        tracking=TrackingParams(log_model=False), pipeline_id="train-test")
    logged = summary.pop("mlflow")  # train logs its own run: the training part of the variant's child
    child = MlflowClient(tracking_uri=uri).get_run(logged["run_id"])
    assert child.data.tags["mtst.variant"] == "frozen" and child.data.tags["mtst.stage"] == "train"
    assert child.data.tags["mlflow.parentRunId"] == logged["parent_run_id"] and child.info.status == "FINISHED"
    assert child.data.metrics["train.steps"] == summary["steps"] and set(logged["stage_run_ids"]) == {
        s["name"] for s in json.loads((tmp_path / "frozen" / "stages.json").read_text())}
    assert not (tmp_path / "frozen" / "mlflow.json").exists()
    out = tmp_path / "frozen"
    trained = load_file(str(out / "model" / "encoder" / "model.safetensors"))
    original = load_file(str(default_encoder_path() / "model.safetensors"))
    assert trained and all(np.array_equal(trained[k].numpy(), original[k].numpy()) for k in trained)
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == summary["steps"] > 0 and {r["task"] for r in history} == {"task_a", "task_b"}
    stages = json.loads((out / "stages.json").read_text())
    assert [s["name"] for s in stages] == ["heads"] and stages[0]["cached_embeddings"] is True
    for task in ("task_a", "task_b"):
        assert 0 < summary["validation"][task]["macro_f1"] <= 1
    assert summary["validation"]["task_a"]["macro_f1"] > 0.4  # 5 classes: chance is 0.2
    assert not (tmp_path / ".checkpoints" / "frozen").exists()  # removed once the variant finished


def test_gradual_unfreezing_and_frozen_head(smoke, tmp_path):
    params, splits = smoke
    params = _with_variant(params, "gradual", {"stages": [
        {"name": "heads", "encoder": "frozen", "max_steps": 4},
        {"name": "thaw", "encoder": "gradual", "max_steps": 6, "freeze_heads": ["task_a"],
         "unfreeze": {"initial_layers": 1, "layers_per_step": 1, "every": "steps", "every_steps": 2}},
    ]})
    train.run(params, "gradual", splits, tmp_path / "g", show_progress=False)
    history = [json.loads(line) for line in (tmp_path / "g" / "history.jsonl").read_text().splitlines()]
    assert [r["unfrozen_layers"] for r in history if r["stage"] == "thaw"] == [1, 1, 2, 2, 3, 3]
    trained = load_file(str(tmp_path / "g" / "model" / "encoder" / "model.safetensors"))
    original = load_file(str(default_encoder_path() / "model.safetensors"))
    changed = {k.split(".")[2] for k in trained if k.startswith("encoder.layer.") and not np.array_equal(trained[k].numpy(), original[k].numpy())}
    assert changed == {"3", "4", "5"}  # only the top three blocks were ever thawed
    assert np.array_equal(trained["embeddings.word_embeddings.weight"].numpy(), original["embeddings.word_embeddings.weight"].numpy())


def test_init_from_with_frozen_head_reports_task_a_retained(smoke, tmp_path):
    params, splits = smoke
    params = _with_variant(params, "b_only", {"init_from": "frozen", "stages": [
        {"name": "task_b_only", "tasks": ["task_b"], "freeze_heads": ["task_a"], "encoder": "top:1", "max_steps": 4}]})
    train.run(params, "frozen", splits, tmp_path / "frozen", show_progress=False)
    summary = train.run(params, "b_only", splits, tmp_path / "b_only", show_progress=False)
    before = load_file(str(tmp_path / "frozen" / "model" / "heads.safetensors"))
    after = load_file(str(tmp_path / "b_only" / "model" / "heads.safetensors"))
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before if k.startswith("task_a."))
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before if k.startswith("task_b."))
    assert summary["task_a_retained"] is not None and 0.5 < summary["task_a_retained"] < 1.5
    assert summary["validation"]["task_a"]["macro_f1"] > 0


def test_single_task_variant_has_one_head(smoke, tmp_path):
    params, splits = smoke
    params = _with_variant(params, "only_a", {"tasks": ["task_a"], "stages": [{"name": "heads", "encoder": "frozen", "max_steps": 3}]})
    summary = train.run(params, "only_a", splits, tmp_path / "a", show_progress=False)
    assert summary["tasks"] == ["task_a"] and set(summary["validation"]) == {"task_a"}
    assert summary["train_files"] == {"task_a": str(splits / "task_a" / "train.jsonl")}  # what training read


def test_augmented_variant_requires_the_augmented_split(smoke, tmp_path):
    from mtst.config import ConfigError

    params, splits = smoke
    with pytest.raises(ConfigError, match="mtst augment"):
        train.run(params, "staged", splits, tmp_path / "s", augmented_dir=tmp_path / "missing", show_progress=False)


def test_unknown_variant_is_a_clear_error(smoke, tmp_path):
    from mtst.config import ConfigError

    params, splits = smoke
    with pytest.raises(ConfigError, match="unknown variant 'nope'"):
        train.run(params, "nope", splits, tmp_path / "x")


def test_a_checkpoint_links_the_encoder_only_when_told_it_is_unchanged(tmp_path):
    """Frozen-encoder stages hard-link the previous checkpoint's encoder file; any other write copies it anew,
    and both load back to the same weights."""
    from mtst.model import MultiTaskSentenceTransformer
    from mtst.training.checkpoint import ENCODER_WEIGHTS, load_checkpoint, save_checkpoint

    model = MultiTaskSentenceTransformer({"task_a": ["x", "y"]})
    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, model, {"step": 1}, [], encoder_unchanged=True)  # nothing to link yet: written
    first = (folder / ENCODER_WEIGHTS).stat()
    with torch.no_grad():
        next(model.heads["task_a"].parameters()).add_(1.0)
    save_checkpoint(folder, model, {"step": 2}, [{"step": 1}], encoder_unchanged=True)
    linked = (folder / ENCODER_WEIGHTS).stat()
    assert linked.st_ino == first.st_ino and linked.st_nlink == 1  # the same file; the old folder is gone
    with torch.no_grad():
        model.encoder.embeddings.word_embeddings.weight.add_(1.0)
    save_checkpoint(folder, model, {"step": 3}, [], encoder_unchanged=False)
    assert (folder / ENCODER_WEIGHTS).stat().st_ino != first.st_ino

    restored = MultiTaskSentenceTransformer({"task_a": ["x", "y"]})
    state, _ = load_checkpoint(folder, restored)
    assert state["step"] == 3
    for key, value in model.state_dict().items():
        assert torch.equal(value, restored.state_dict()[key]), key
