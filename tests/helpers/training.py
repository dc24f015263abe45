"""Realistic training folders for the evaluation / tracking / comparison tests, made by real (small) training.

Each folder follows the trainer's output contract (``model/``, ``history.jsonl``, ``stages.json``,
``train_summary.json``): the packaged all-MiniLM-L6-v2 with the real label sets, heads fitted on real
sentence embeddings of the real splits (stage ``heads``, encoder frozen), then for staged variants a few
optimisation steps with the top transformer block unfrozen (stage ``unfreeze``). Small, but real training.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from mtst.data.datasets import TASK_LABELS, load_split, read_jsonl_frame
from mtst.data.splits import stratified_sample
from mtst.contracts.training import HISTORY, STAGES, SUMMARY, Stages, TrainedParams, TrainSummary
from mtst.io import atomic_dir, write_jsonl
from mtst.training.fingerprint import recipe as recipe_digest
from mtst.model import MultiTaskSentenceTransformer


def make_mini_splits(data_dir: Path, out: Path, train: int = 200, validation: int = 75, test: int = 90,
                     seed: int = 13) -> Path:
    """``<out>/<task>/<split>.jsonl`` from the real data, stratified (by domain and label for Task B)."""
    limits = {"train": train, "validation": validation, "test": test}
    with atomic_dir(out) as tmp:
        for task in ("task_a", "task_b"):
            frame = read_jsonl_frame(data_dir / f"{task}.jsonl")
            strata = ["domain", "label"] if "domain" in frame.columns else ["label"]
            for split, n in limits.items():
                part = stratified_sample(frame[frame["split"] == split], n, strata, seed)
                write_jsonl(tmp / task / f"{split}.jsonl", part.to_dict(orient="records"))
    return out


@dataclass
class Recipe:
    tasks: tuple[str, ...] = ("task_a", "task_b")
    unfreeze_steps: int = 0          # 0: heads only (encoder frozen throughout)
    head_epochs: int = 6
    weight_b: float = 1.0            # loss weight of Task B
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {
    "frozen": Recipe(description="Linear probe: encoder frozen, both heads trained."),
    "staged": Recipe(unfreeze_steps=4, weight_b=2.0, description="Heads, then the top block unfrozen; Task B up-weighted."),
    "staged_static": Recipe(unfreeze_steps=4, weight_b=1.0, description="As staged, with static equal loss weights.",
                            extra={"loss_weighting": "static", "ablation_of": "staged"}),
    "single_a": Recipe(tasks=("task_a",), unfreeze_steps=4, description="Task A alone, same recipe as staged."),
    "single_b": Recipe(tasks=("task_b",), unfreeze_steps=4, description="Task B alone, same recipe as staged."),
}


class TrainDirs:
    """Builds each variant's training folder once (lazily) under ``root``."""

    def __init__(self, root: Path, splits: Path, seed: int = 13) -> None:
        self.root, self.splits, self.seed = root, splits, seed
        self._embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._built: dict[str, Path] = {}

    def __getitem__(self, variant: str) -> Path:
        if variant not in self._built:
            self._built[variant] = self._train(variant, RECIPES[variant])
        return self._built[variant]

    def _cached(self, model: MultiTaskSentenceTransformer, task: str) -> tuple[np.ndarray, np.ndarray]:
        """Base-encoder embeddings of the task's training split (the frozen stage trains heads on them)."""
        if task not in self._embeddings:
            frame = load_split(self.splits, task, "train")
            index = {label: i for i, label in enumerate(TASK_LABELS[task])}
            self._embeddings[task] = (model.encode(frame["text"].tolist(), batch_size=64),
                                      frame["label"].map(index).to_numpy())
        return self._embeddings[task]

    def _train(self, variant: str, recipe: Recipe) -> Path:
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        start = time.perf_counter()
        model = MultiTaskSentenceTransformer({t: list(TASK_LABELS[t]) for t in recipe.tasks})
        weights = {"task_a": 1.0, "task_b": recipe.weight_b}
        history: list[dict[str, Any]] = []
        stages: list[dict[str, Any]] = []
        loss_fn = torch.nn.CrossEntropyLoss()

        # stage 1: heads on the frozen encoder, over cached embeddings
        model.freeze_encoder()
        data = {t: self._cached(model, t) for t in recipe.tasks}
        optimizer = torch.optim.AdamW(model.heads.parameters(), lr=1e-2)
        stage_start, t0 = len(history), time.perf_counter()
        steps_per_epoch = max(len(y) for _, y in data.values()) // 32
        model.train()
        for epoch in range(recipe.head_epochs):
            for _ in range(steps_per_epoch):
                record: dict[str, Any] = {"step": len(history), "stage": "heads", "epoch": epoch, "lr/heads": 1e-2}
                total = 0.0
                for task, (x, y) in data.items():
                    idx = rng.choice(len(y), size=32, replace=False)
                    logits = model.heads[task](torch.as_tensor(x[idx]))
                    loss = loss_fn(logits, torch.as_tensor(y[idx]))
                    total = total + weights[task] * loss
                    record[f"loss/{task}"] = loss.item()
                    record[f"weight/{task}"] = weights[task]
                optimizer.zero_grad()
                total.backward()
                optimizer.step()
                history.append(record)
        stages.append({"name": "heads", "index": 0, "start_step": stage_start, "end_step": len(history) - 1,
                       "steps": len(history) - stage_start, "tasks": list(recipe.tasks), "cached_embeddings": True,
                       "wall_s": round(time.perf_counter() - t0, 3), "validation": self._validate(model, recipe.tasks),
                       "params": {"encoder": "frozen", "epochs": recipe.head_epochs, "lr_head": 0.01}})

        # stage 2: the top transformer block unfrozen, real forward/backward through the encoder
        if recipe.unfreeze_steps:
            model.unfreeze_top_layers(1)
            optimizer = torch.optim.AdamW([{"params": model.heads.parameters(), "lr": 1e-3},
                                           {"params": model.encoder_layers[-1].parameters(), "lr": 1e-4}])
            texts = {t: load_split(self.splits, t, "train") for t in recipe.tasks}
            stage_start, t0 = len(history), time.perf_counter()
            for _ in range(recipe.unfreeze_steps):
                record = {"step": len(history), "stage": "unfreeze", "epoch": 0, "lr/heads": 1e-3, "lr/encoder": 1e-4}
                total = 0.0
                for task, frame in texts.items():
                    batch = frame.sample(8, random_state=int(rng.integers(1 << 30)))
                    tokens = model.tokenize(batch["text"].tolist(), max_length=64)
                    logits = model(tokens["input_ids"], tokens["attention_mask"], tasks=[task])[task]
                    index = {label: i for i, label in enumerate(TASK_LABELS[task])}
                    loss = loss_fn(logits, torch.as_tensor(batch["label"].map(index).to_numpy().copy()))
                    total = total + weights[task] * loss
                    record[f"loss/{task}"] = loss.item()
                    record[f"weight/{task}"] = weights[task]
                optimizer.zero_grad()
                total.backward()
                optimizer.step()
                history.append(record)
            stages.append({"name": "unfreeze", "index": 1, "start_step": stage_start, "end_step": len(history) - 1,
                           "steps": len(history) - stage_start, "tasks": list(recipe.tasks), "cached_embeddings": False,
                           "wall_s": round(time.perf_counter() - t0, 3),
                           "validation": self._validate(model, recipe.tasks),
                           "params": {"encoder": "top:1", "steps": recipe.unfreeze_steps, "lr_head": 0.001,
                                      "lr_encoder": 0.0001}})
        model.eval()

        # the records in the trainer's contract (mtst.contracts.training), so readers see what a real run writes
        wall = round(time.perf_counter() - start, 3)
        summary = TrainSummary(
            variant=variant, description=recipe.description, tasks=list(recipe.tasks), trained_tasks=list(recipe.tasks),
            augmented=False, seed=self.seed, wall_s=wall, process_wall_s=wall, steps=len(history), world_size=1,
            resumed_from_step=None, train_rows={t: len(load_split(self.splits, t, "train")) for t in recipe.tasks},
            validation=stages[-1]["validation"], validation_by_stage={s["name"]: s["validation"] for s in stages},
            params=TrainedParams(
                variant={"description": recipe.description, "tasks": list(recipe.tasks), "augment": False,
                         "init_from": None, "loss_weights": weights, "stages": [s["params"] for s in stages],
                         **recipe.extra},
                train={"seed": self.seed}, model={"encoder": None, "head": "linear"}),
            recipe=recipe_digest({"variant.name": variant, "variant.recipe": repr(recipe)}))  # all but the seed
        out = self.root / variant
        with atomic_dir(out) as tmp:
            model.save(tmp / "model")
            write_jsonl(tmp / HISTORY, history)
            Stages.model_validate(stages).write(tmp / STAGES)
            summary.write(tmp / SUMMARY)
        return out

    def _validate(self, model: MultiTaskSentenceTransformer, tasks: tuple[str, ...]) -> dict[str, dict[str, float]]:
        """Macro-F1 and accuracy of each head on the validation split, as the trainer records after a stage."""
        scores = {}
        for task in tasks:
            frame = load_split(self.splits, task, "validation")
            proba = model.predict_proba(frame["text"].tolist())[task]
            predicted = [TASK_LABELS[task][i] for i in proba.argmax(axis=1)]
            scores[task] = {"macro_f1": float(f1_score(frame["label"], predicted, average="macro")),
                            "accuracy": float(np.mean(np.asarray(predicted) == frame["label"].to_numpy()))}
        return scores


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
