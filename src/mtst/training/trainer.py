"""The staged multi-task trainer.

A variant is a list of stages. Each stage sets what trains (encoder frozen / top-k / gradual / all,
heads frozen or not), builds its optimiser (discriminative lrs, warmup), and runs steps: choose a task
(sampling strategy, optionally moved by a curriculum), take that task's next length-grouped batch, apply
the task's loss weight, step. Frozen-encoder stages train on cached embeddings. A checkpoint is written
every ``checkpoint_every`` steps and at each stage end; ``resume`` continues from the last one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from tqdm.auto import tqdm

from mtst.model import MultiTaskSentenceTransformer
from mtst.training.batching import TaskBatchSampler, pad_batch, shard, steps_for, tokenize_texts
from mtst.training.cache import cached_embeddings, encoder_fingerprint, one_thread
from mtst.failpoints import failpoint
from mtst.training.checkpoint import has_checkpoint, load_checkpoint, read_state, restore_rng, save_checkpoint
from mtst.training import fingerprint as fp
from mtst.training.distributed import Distributed
from mtst.training.freezing import apply_freezing
from mtst.training.losses import TaskLossWeighting
from mtst.training.optim import build_optimizer, build_scheduler
from mtst.training.precision import resolve_bf16
from mtst.training.sampling import task_mix, task_probabilities
from mtst.training.schema import StageParams, TrainParams, VariantParams
from mtst.training.task_data import TaskData


@dataclass
class TrainState:
    stage_index: int = 0
    step_in_stage: int = 0
    global_step: int = 0
    wall_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    resumed_from_step: int | None = None


@dataclass
class _StagePlan:
    """What a stage trains on and for how long (fixed before its first step)."""

    tasks: list[str]
    sizes: dict[str, int]
    total: int
    steps_per_epoch: int
    use_cache: bool


@dataclass
class _StageRun:
    """The stage's stateful parts, checkpointed mid-stage: weighting, optimiser, schedule, sampler."""

    weighting: TaskLossWeighting
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: TaskBatchSampler
    start: int


class Trainer:
    def __init__(self, model: MultiTaskSentenceTransformer, variant_name: str, variant: VariantParams,
                 params: TrainParams, train: dict[str, TaskData], validation: dict[str, TaskData],
                 checkpoint_dir: Path, dist: Distributed | None = None, show_progress: bool = True,
                 fingerprint: dict[str, str] | None = None) -> None:
        self.model, self.variant_name, self.variant, self.params = model, variant_name, variant, params
        self.fingerprint = fingerprint or {}
        self.train, self.validation = train, validation
        self.checkpoint_dir = checkpoint_dir
        self.dist = dist or Distributed.single()
        self.show_progress = show_progress and self.dist.is_main
        self.state = TrainState()
        self.encoder_checkpointed = False  # the checkpoint folder holds the encoder as it is now (written or loaded here)
        self.token_ids = {t: tokenize_texts(model.tokenizer, d.texts, model.max_length) for t, d in train.items()}
        self.lengths = {t: np.array([len(ids) for ids in self.token_ids[t]]) for t in train}

    # ---- public ----------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainState:
        """Run every stage (from the last checkpoint when ``resume``); return the final state.

        A checkpoint written mid-stage carries the optimiser, scheduler, sampler and RNG state and the stage
        continues from it; one written at a stage end carries none (the next stage builds its own and
        seeds itself), so the next stage starts afresh — exactly as in an uninterrupted run.
        """
        resumed: dict[str, Any] | None = None
        if resume and self._checkpoint_present():
            fp.check(read_state(self.checkpoint_dir).get("fingerprint"), self.fingerprint, str(self.checkpoint_dir))
            saved, history = load_checkpoint(self.checkpoint_dir, self.model)
            self.encoder_checkpointed = True
            self.state = TrainState(saved["stage_index"], saved["step_in_stage"], saved["global_step"],
                                    saved["wall_s"], history, saved["stages"], saved["validation"],
                                    resumed_from_step=saved["global_step"])
            resumed = saved if saved["optimizer"] is not None else None
        elif self.variant.init_from:
            self.state.validation["initial"] = self.validate()
        for index in range(self.state.stage_index, len(self.variant.stages)):
            self._run_stage(index, resumed if resumed and resumed["stage_index"] == index else None)
            resumed = None
        return self.state

    def _checkpoint_present(self) -> bool:
        """Rank 0 repairs what a kill mid-write left; then every rank looks."""
        if self.dist.is_main:
            has_checkpoint(self.checkpoint_dir)
        self.dist.barrier()
        return (self.checkpoint_dir / "state.pt").is_file()

    @torch.inference_mode()
    def validate(self, frozen: bool = False) -> dict[str, dict[str, float]]:
        """Macro-F1 and accuracy of every head on its validation split (``frozen``: the encoder is the one the
        embedding cache holds, so the validation sentences are encoded once for all variants)."""
        out, bs = {}, self.params.eval_batch_size
        for task, data in self.validation.items():
            if task not in self.model.tasks or not len(data):
                continue
            if frozen:
                embeddings = cached_embeddings(self.model, data.texts, bs, bf16=self._bf16())
            else:
                with self._autocast():  # the precision the stage trained in
                    embeddings = self.model.encode(data.texts, bs)
            predicted = self.model.predict_proba_from_embeddings(embeddings, task).argmax(axis=1)
            out[task] = {"macro_f1": float(f1_score(data.labels, predicted, average="macro")),
                         "accuracy": float((predicted == data.labels).mean())}
        return out

    # ---- stages ----------------------------------------------------------------------------------------
    def _run_stage(self, index: int, resumed: dict[str, Any] | None) -> None:
        """Plan the stage, set what trains, build (or restore) its optimiser, run its steps, validate."""
        stage = self.variant.stages[index]
        plan = self._plan(stage)
        apply_freezing(self.model, stage, plan.tasks, 0, plan.steps_per_epoch)
        began = time.perf_counter()  # the stage's wall time includes building the embedding cache
        cache = self._embedding_cache(plan)
        run = self._start_run(index, stage, plan, resumed)
        self._run_steps(index, stage, plan, run, cache, began)
        self._finish_stage(index, stage, plan, began)

    def _plan(self, stage: StageParams) -> _StagePlan:
        """The stage's tasks, step budget (epochs, capped by ``max_steps``) and whether it trains on cached vectors."""
        params = self.params
        tasks = list(stage.tasks or self.variant.tasks)
        sizes = {t: len(self.train[t]) for t in tasks}
        total = steps_for(stage.epochs * params.epoch_scale, sizes, params.batch_size)
        for cap in (stage.max_steps, params.max_steps_per_stage):
            if cap:
                total = min(total, cap)
        return _StagePlan(tasks, sizes, total, steps_for(1.0, sizes, params.batch_size),
                          stage.encoder == "frozen" and params.embedding_cache)

    def _embedding_cache(self, plan: _StagePlan) -> dict[str, torch.Tensor]:
        """Each task's training embeddings under the frozen encoder (empty unless the stage uses the cache)."""
        if not plan.use_cache:
            return {}
        fingerprint = encoder_fingerprint(self.model)
        return {t: cached_embeddings(self.model, self.train[t].texts, self.params.eval_batch_size, fingerprint,
                                     bf16=self._bf16()).to(self.model.device) for t in plan.tasks}

    def _start_run(self, index: int, stage: StageParams, plan: _StagePlan, resumed: dict[str, Any] | None) -> _StageRun:
        """Loss weighting, optimiser, schedule and sampler: restored from a mid-stage checkpoint, else seeded afresh."""
        params = self.params
        weighting = TaskLossWeighting(plan.tasks, stage.loss.weighting, stage.loss.weights)
        optimizer = build_optimizer(self.model, stage, weighting, include_encoder=not plan.use_cache)
        scheduler = build_scheduler(optimizer, plan.total, stage.warmup_ratio)
        sampler = TaskBatchSampler({t: self.lengths[t] for t in plan.tasks}, params.batch_size, params.seed, index,
                                   params.length_grouping, min_batch=self.dist.world_size)
        start = 0
        if resumed:
            optimizer.load_state_dict(resumed["optimizer"])
            scheduler.load_state_dict(resumed["scheduler"])
            weighting.load_state_dict(resumed["weighting"])
            sampler.load_state_dict(resumed["sampler"])
            restore_rng(resumed["rng"])
            start = resumed["step_in_stage"]
        else:
            torch.manual_seed(params.seed * 1000 + index)
        return _StageRun(weighting, optimizer, scheduler, sampler, start)

    def _run_steps(self, index: int, stage: StageParams, plan: _StagePlan, run: _StageRun,
                   cache: dict[str, torch.Tensor], began: float) -> None:
        """The stage's optimisation steps from ``run.start``, with a checkpoint every ``checkpoint_every``."""
        base_probs = task_probabilities(plan.sizes, stage.sampling)
        round_robin = stage.sampling.strategy == "round_robin" and stage.curriculum is None
        self.model.train()
        if plan.use_cache:
            self.model.encoder.eval()  # the cached vectors were computed in eval mode
        ema: dict[str, float] = {}
        bar = tqdm(range(run.start, plan.total), initial=run.start, total=plan.total, disable=not self.show_progress,
                   desc=f"{self.variant_name}/{stage.name}", unit="step", dynamic_ncols=True)
        with one_thread(plan.use_cache):  # cached-vector steps: tiny ops, faster serial
            for step in bar:
                probs, factors = task_mix(stage.curriculum, base_probs, plan.tasks, step, plan.total)
                unfrozen = apply_freezing(self.model, stage, plan.tasks, step, plan.steps_per_epoch) \
                    if stage.encoder == "gradual" else None
                task = run.sampler.choose_task(step, probs, round_robin)
                rows = shard(run.sampler.next_batch(task), self.dist.rank, self.dist.world_size)
                loss_value = self._optimise(task, rows, factors[task], run, cache if plan.use_cache else None)
                ema[task] = loss_value if task not in ema else 0.9 * ema[task] + 0.1 * loss_value
                self._record(index, stage, plan, run, step, task, loss_value, probs, factors, unfrozen)
                failpoint("train.step")
                bar.set_postfix({f"loss_{t[-1]}": f"{v:.3f}" for t, v in ema.items()}, refresh=False)  # drawn on tick
                if (step + 1) % self.params.checkpoint_every == 0 and step + 1 < plan.total:
                    self._checkpoint(index, step + 1, run.optimizer, run.scheduler, run.weighting, run.sampler, began)
        bar.close()

    def _optimise(self, task: str, rows: np.ndarray, factor: float, run: _StageRun,
                  cache: dict[str, torch.Tensor] | None) -> float:
        """One step on this rank's ``rows`` of ``task`` (from cached vectors when given); returns the mean loss."""
        model, dist = self.model, self.dist
        labels = torch.as_tensor(self.train[task].labels[rows], dtype=torch.long, device=model.device)
        if cache is not None:
            logits = model.heads[task](cache[task][rows])
        else:
            self.encoder_checkpointed = False  # this step changes the encoder
            ids, mask = pad_batch([self.token_ids[task][i] for i in rows], model.tokenizer.pad_token_id,
                                  self.params.pad_to)
            with self._autocast():
                embeddings = model.embed_tokens(ids.to(model.device), mask.to(model.device))
            logits = model.heads[task](embeddings.float())
        loss = F.cross_entropy(logits, labels)
        run.weighting.weighted(task, loss, factor).backward()
        dist.average_gradients(model, run.weighting, local_rows=len(rows))
        torch.nn.utils.clip_grad_norm_([p for g in run.optimizer.param_groups for p in g["params"]], 1.0)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
        return dist.mean(float(loss.detach()), len(rows))

    def _record(self, index: int, stage: StageParams, plan: _StagePlan, run: _StageRun, step: int, task: str,
                loss_value: float, probs: dict[str, float], factors: dict[str, float], unfrozen: int | None) -> None:
        """Append the step's line to the history (``history.jsonl``) and advance the global step."""
        record: dict[str, Any] = {"step": self.state.global_step, "stage": stage.name, "stage_index": index,
                                  "epoch": round(step / plan.steps_per_epoch, 4), "task": task,
                                  f"loss/{task}": round(loss_value, 6)}
        record.update({f"p/{t}": round(probs[t], 4) for t in plan.tasks})
        record.update({f"weight/{t}": round(w * factors[t], 4) for t, w in run.weighting.effective_weights().items()})
        record.update({f"lr/{g['name']}": g["lr"] for g in run.optimizer.param_groups
                       if g["name"] in ("heads", "encoder_0")})
        if unfrozen is not None:
            record["unfrozen_layers"] = unfrozen
        self.state.history.append(record)
        self.state.global_step += 1

    def _finish_stage(self, index: int, stage: StageParams, plan: _StagePlan, began: float) -> None:
        """Validate, summarise the stage in ``state.stages`` and write the stage-end checkpoint."""
        self.model.eval()
        elapsed = self.state.wall_s + time.perf_counter() - began
        validation = self.validate(frozen=plan.use_cache)
        self.state.validation[stage.name] = validation
        self.state.stages.append({"name": stage.name, "index": index,
                                  "start_step": self._stage_start(index), "end_step": self.state.global_step,
                                  "steps": plan.total, "tasks": plan.tasks, "cached_embeddings": plan.use_cache,
                                  "wall_s": round(elapsed, 3), "validation": validation,
                                  "params": stage.model_dump()})
        self.state.wall_s = 0.0
        self.state.stage_index, self.state.step_in_stage = index + 1, 0
        self._checkpoint(index + 1, 0, None, None, None, None, None)
        failpoint("train.stage_end")

    def _stage_start(self, index: int) -> int:
        return min((r["step"] for r in self.state.history if r["stage_index"] == index), default=self.state.global_step)

    def _bf16(self) -> bool:
        return resolve_bf16(self.params.bf16, self.model.device)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=self._bf16())

    def _checkpoint(self, stage_index: int, step_in_stage: int, optimizer: Any, scheduler: Any, weighting: Any,
                    sampler: TaskBatchSampler | None, began: float | None) -> None:
        if not self.dist.is_main:
            self.dist.barrier()
            return
        state = {"stage_index": stage_index, "step_in_stage": step_in_stage, "global_step": self.state.global_step,
                 "wall_s": (self.state.wall_s + time.perf_counter() - began) if began else 0.0,
                 "stages": self.state.stages, "validation": self.state.validation,
                 "optimizer": optimizer.state_dict() if optimizer else None,
                 "scheduler": scheduler.state_dict() if scheduler else None,
                 "weighting": weighting.state_dict() if weighting else None,
                 "sampler": sampler.state_dict() if sampler else None, "variant": self.variant_name,
                 "fingerprint": self.fingerprint}
        save_checkpoint(self.checkpoint_dir, self.model, state, self.state.history, self.encoder_checkpointed)
        self.encoder_checkpointed = True
        failpoint("train.checkpoint")
        self.dist.barrier()
