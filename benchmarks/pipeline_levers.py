"""What each pipeline-speed lever buys (not a test): old and new setting side by side in one run.

On the default pipeline's outputs (``dvc repro`` first), per lever, the seconds one pipeline run spends
on it with the old setting and with the new one, and their ratio:

- ``encoder step``: a training step of the whole encoder (batch 32, real Task A rows) in fp32 and in bf16
  autocast (``train.bf16: auto`` picks bf16 on a CPU with AVX512-BF16 / AMX); interleaved, median of rounds;
  scaled to the pipeline by the encoder-training steps all variants take (``train_summary.json``).
- ``head steps``: a step of a linear head on cached sentence vectors (what frozen-encoder stages run thousands
  of) on torch's two threads vs one (``mtst.training.cache.one_thread``); scaled by those steps of all variants.
- ``embedding cache``: encoding training sentences for the frozen-encoder stages, as before (fp32, batches of
  128) and now (bf16 autocast where ``train.bf16`` resolves on, batches of 32: ``train.eval_batch_size``);
  interleaved on a sample, scaled by the sentences the cache holds for the variants (train and validation splits).
- ``AdamW``: the optimiser update (with gradient clipping) after a whole-encoder bf16 step, torch's
  per-parameter loop vs the fused kernel (``mtst.training.optim``); interleaved on the same gradients, scaled
  by the encoder-training steps. An upper bound: gradual-unfreezing steps update only the unfrozen blocks.
- ``checkpoints``: a checkpoint written during a stage that trains heads on cached vectors, with the encoder's
  weights written again vs hard-linked from the previous checkpoint; scaled by the checkpoints those stages
  write (one every ``train.checkpoint_every`` steps and one at the stage end).
- ``validation``: encoding the validation splits after each encoder-training stage in fp32 vs in the stage's
  bf16 autocast (batches of 32); scaled by the sentences those validations encode.
- ``MLflow curves``: logging every variant's history as step metrics (child and stage runs) with every
  step vs ``tracking.curve_points`` (500) into two fresh SQLite stores, one after the other.
- ``evaluate timing``: the throughput pass of every evaluation with the old ``evaluate`` settings
  (512 sentences x 3 repeats) vs the new (256 x 1); ``compare`` re-times the models side by side anyway.
- ``serving table``: ``mtst.comparison.serving.measure`` on the champion (``reports/comparison.json``), as
  before (every backend scores and times the whole test split) and now (each task's first
  ``compare.serving_timed_sentences`` timed side by side, the evaluated backend keeping the evaluation's
  scores); alternately, ``--serving-rounds`` times each.
- ``process exit``: from a command's last line to the end of its process, in a fresh interpreter that imported
  what ``mtst evaluate`` imports and ran the packaged encoder once: Python's own shutdown vs after ``gc.freeze()`` (``mtst.cli.main``);
  interleaved, scaled by the commands that import torch (every train and evaluate stage, and compare).

    .venv/bin/python benchmarks/pipeline_levers.py [--artifacts artifacts] [--rounds 5] [--out reports/bench_pipeline_levers.json]

Machines here are shared and noisy: read the ratios measured in one run, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mtst.config import TrackingParams
from mtst.contracts.training import TrainFolder
from mtst.data.datasets import load_split
from mtst.evaluation.sampling import throughput_sample
from mtst.evaluation.speed import measure_throughput
from mtst.model import MultiTaskSentenceTransformer

from results import default_out, write_results


def encoder_step_seconds(texts: list[str], rounds: int) -> dict[str, float]:
    """Median seconds of one whole-encoder training step in fp32 and in bf16 autocast, interleaved."""
    model = MultiTaskSentenceTransformer({"task_a": ["a", "b", "c", "d", "e"]})
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    batches = [texts[i:i + 32] for i in range(0, 32 * (rounds + 1), 32)]
    for index, batch in enumerate(batches):
        tokens = model.tokenize(batch)
        labels = torch.zeros(len(batch), dtype=torch.long)
        for precision in ("fp32", "bf16") if index % 2 == 0 else ("bf16", "fp32"):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                embeddings = model.embed_tokens(tokens["input_ids"], tokens["attention_mask"])
            F.cross_entropy(model.heads["task_a"](embeddings.float()), labels).backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            if index:  # the first round warms up both
                times[precision].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def encode_seconds(texts: list[str], rounds: int) -> dict[str, float]:
    """Median seconds per sentence to encode ``texts`` with the pretrained encoder: fp32 in batches of 128 (the
    old cache), fp32 in batches of 32 (the old validation) and bf16 autocast in batches of 32 (both now),
    interleaved."""
    model = MultiTaskSentenceTransformer({})
    settings = {"fp32 x128": (False, 128), "fp32 x32": (False, 32), "bf16 x32": (True, 32)}
    times: dict[str, list[float]] = {k: [] for k in settings}
    model.encode(texts[:32], batch_size=32)
    for index in range(rounds):
        for label in list(settings) if index % 2 == 0 else list(settings)[::-1]:
            bf16, batch_size = settings[label]
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model.encode(texts, batch_size=batch_size)
            times[label].append((time.perf_counter() - start) / len(texts))
    return {k: statistics.median(v) for k, v in times.items()}


def optimiser_seconds(texts: list[str], rounds: int) -> dict[str, float]:
    """Median seconds of clipping and one AdamW update of the whole encoder (after a bf16 step), torch's
    per-parameter loop vs the fused kernel; both update the same gradients, in alternating order."""
    model = MultiTaskSentenceTransformer({"task_a": ["a", "b", "c", "d", "e"]})
    model.train()
    params = list(model.parameters())
    optimisers = {"loop": torch.optim.AdamW(params, lr=1e-9, foreach=False),
                  "fused": torch.optim.AdamW(params, lr=1e-9, fused=True)}
    times: dict[str, list[float]] = {k: [] for k in optimisers}
    for index in range(rounds + 1):
        tokens = model.tokenize(texts[32 * index:32 * (index + 1)])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            embeddings = model.embed_tokens(tokens["input_ids"], tokens["attention_mask"])
        F.cross_entropy(model.heads["task_a"](embeddings.float()), torch.zeros(32, dtype=torch.long)).backward()
        for label in list(optimisers) if index % 2 == 0 else list(optimisers)[::-1]:
            start = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimisers[label].step()
            if index:  # the first round allocates both optimisers' state
                times[label].append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return {k: statistics.median(v) for k, v in times.items()}


def checkpoint_seconds(model_dir: Path, rounds: int) -> dict[str, float]:
    """Median seconds of one checkpoint of a trained model with its encoder written vs hard-linked."""
    from mtst.training.checkpoint import save_checkpoint

    model = MultiTaskSentenceTransformer.load(model_dir)
    times: dict[str, list[float]] = {"written": [], "linked": []}
    with tempfile.TemporaryDirectory(prefix="mtst-bench-checkpoint-") as scratch:  # 87 MB a checkpoint
        folder = Path(scratch) / "checkpoint"
        save_checkpoint(folder, model, {}, [])
        for index in range(rounds):
            for label in list(times) if index % 2 == 0 else list(times)[::-1]:
                start = time.perf_counter()
                save_checkpoint(folder, model, {}, [], encoder_unchanged=label == "linked")
                times[label].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def cached_stage_checkpoints(train_dirs: list[Path]) -> int:
    """Checkpoints the frozen-encoder stages of all variants write (every ``checkpoint_every`` steps, and at the end)."""
    count = 0
    for d in train_dirs:
        folder = TrainFolder(d)
        every = folder.summary().params.train["checkpoint_every"]
        count += sum(-(-s.steps // every) for s in folder.stages() if s.cached_embeddings)
    return count


def validated_sentences(train_dirs: list[Path], splits: Path) -> int:
    """Validation sentences encoded by the model itself: after every encoder-training stage, and a follow-up
    variant's initial check (frozen-encoder stages validate on the embedding cache)."""
    total = 0
    for d in train_dirs:
        folder = TrainFolder(d)
        summary = folder.summary()
        per_check = sum(len(load_split(splits, task, "validation")) for task in summary.tasks)
        checks = sum(not s.cached_embeddings for s in folder.stages()) + ("initial" in summary.validation_by_stage)
        total += per_check * checks
    return total


def cached_sentences(train_dirs: list[Path], splits: Path) -> int:
    """Sentences the embedding cache encodes for these variants: each distinct (task, training rows) set of a
    variant with a frozen-encoder stage, and every task's validation split."""
    sets = {(task, rows) for d in train_dirs if any(s.cached_embeddings for s in TrainFolder(d).stages())
            for task, rows in TrainFolder(d).summary().train_rows.items()}
    validation = sum(len(load_split(splits, task, "validation")) for task in {task for task, _ in sets})
    return sum(rows for _, rows in sets) + validation


def encoder_steps(train_dirs: list[Path], cached: bool = False) -> int:
    """Steps that trained the encoder (``cached``: the heads on cached embeddings), over all variants."""
    return sum(s.end_step - s.start_step for d in train_dirs for s in TrainFolder(d).stages()
               if s.cached_embeddings == cached)


def head_step_seconds(rounds: int, steps: int = 300) -> dict[str, float]:
    """Median seconds of one step of a 384 -> 5 linear head on a batch of 32 cached vectors, two threads vs one."""
    from mtst.training.cache import one_thread

    torch.manual_seed(0)
    head, vectors = torch.nn.Linear(384, 5), torch.randn(4000, 384)
    optimiser = torch.optim.AdamW(head.parameters(), lr=0.01)
    times: dict[str, list[float]] = {"2 threads": [], "1 thread": []}
    for _ in range(rounds):
        for label in times:
            with one_thread(label == "1 thread"):
                start = time.perf_counter()
                for step in range(steps):
                    rows = torch.randint(0, len(vectors), (32,))
                    F.cross_entropy(head(vectors[rows]), rows % 5).backward()
                    torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
                    optimiser.step()
                    optimiser.zero_grad(set_to_none=True)
                times[label].append((time.perf_counter() - start) / steps)
    return {k: statistics.median(v) for k, v in times.items()}


def curve_logging_seconds(train_dirs: list[Path], points: int | None, store: Path) -> float:
    """Seconds to log every variant's curves (child and stage runs) into a fresh SQLite store."""
    from mtst.tracking.store import Tracker
    from mtst.tracking.variant import _log_curves, _stage_run, thin_history

    tracker = Tracker.open(TrackingParams(experiment="bench"), uri=f"sqlite:///{store}")
    start = time.perf_counter()
    for train_dir in train_dirs:
        folder = TrainFolder(train_dir)
        history, stages = folder.history(), folder.stages()
        run_id = tracker.create_run(train_dir.name, {})
        curve = thin_history(history, points)
        _log_curves(tracker, run_id, curve, history, stages)
        for index, stage in enumerate(stages):
            _stage_run(tracker, run_id, train_dir.name, index, stage, history, curve, {})
    return time.perf_counter() - start


def evaluate_timing_seconds(train_dirs: list[Path], splits: Path, rounds: int) -> dict[str, float]:
    """Seconds every evaluation spends timing its model: old settings (512 x 3) vs new (256 x 1)."""
    model = MultiTaskSentenceTransformer.load(TrainFolder(train_dirs[0]).model_dir)
    old, new = [], []
    for _ in range(rounds):
        for label, sentences, repeats in (("old", 512, 3), ("new", 256, 1)):
            sample = throughput_sample(splits, "test", sentences, 13)
            start = time.perf_counter()
            measure_throughput(model, sample, 32, repeats)
            (old if label == "old" else new).append(time.perf_counter() - start)
    return {"old": statistics.median(old) * len(train_dirs), "new": statistics.median(new) * len(train_dirs)}


def serving_table_seconds(artifacts: Path, rounds: int) -> dict[str, float]:
    """Seconds of the champion's serving table: every backend over the whole split (before) vs the evaluated
    backend only timed on ``compare.serving_timed_sentences`` per task (now); alternately, median of rounds."""
    import json

    from mtst.comparison.results import load_results
    from mtst.comparison.serving import evaluated_f1, measure, split_sentences
    from mtst.config import CompareParams
    from mtst.export.backend import calibration_for

    champion = json.loads((artifacts.parent / LAYOUT.reports / COMPARISON).read_text())["champion"]
    [result] = load_results([artifacts / "eval" / champion])
    tests, _ = split_sentences(result)
    params, model_dir = CompareParams(), Path(result.info.model_dir)
    known = evaluated_f1(result, params.serving_backends, tests)
    calibration = calibration_for(params.serving_backends, result.info.splits_dir, result.tasks)
    times: dict[str, list[float]] = {"whole split": [], "timed sample": []}
    for _ in range(rounds):
        for label, timed, f1 in (("timed sample", params.serving_timed_sentences, known),
                                 ("whole split", max(len(t[0]) for t in tests.values()), {})):
            start = time.perf_counter()
            measure(model_dir, params.serving_backends, tests, params.inference_batch_size,
                    params.inference_sentences, timed, f1, calibration)
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


EXIT_PROBE = """
import gc, sys, time
import mlflow, mtst.export.backend, mtst.serving, mtst.steps.evaluate, mtst.tracking
from mtst.model import MultiTaskSentenceTransformer
from mtst.contracts.training import SUMMARY
from mtst.dag import LAYOUT
from mtst.contracts.comparison import COMPARISON
MultiTaskSentenceTransformer({"task_a": ["a", "b"]}).encode(["One sentence through the model."])
print(time.time(), flush=True)
if sys.argv[1] == "frozen":
    gc.freeze()
"""


def process_exit_seconds(rounds: int) -> dict[str, float]:
    """Median seconds from a command's last line to its process's end: interpreter shutdown as it is
    ("teardown") vs after ``gc.freeze()`` ("frozen"), interleaved in fresh interpreters."""
    times: dict[str, list[float]] = {"teardown": [], "frozen": []}
    for _ in range(rounds):
        for mode, values in times.items():
            proc = subprocess.run([sys.executable, "-c", EXIT_PROBE, mode], capture_output=True, text=True, check=True)
            values.append(time.time() - float(proc.stdout.split()[-1]))
    return {mode: statistics.median(values) for mode, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serving-rounds", type=int, default=1, help="each serving table takes 30-60 s here")
    parser.add_argument("--out", type=Path, default=default_out("pipeline_levers"))
    args = parser.parse_args()
    train_root, splits = args.artifacts / "train", args.artifacts / "splits"
    train_dirs = sorted(d for d in train_root.iterdir() if (d / SUMMARY).exists()) if train_root.is_dir() else []
    if not train_dirs:
        raise SystemExit(f"no trained variants under {train_root}: run `dvc repro` on the default profile first")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    steps, head_steps = encoder_steps(train_dirs), encoder_steps(train_dirs, cached=True)
    step_s = encoder_step_seconds(load_split(splits, "task_a", "train")["text"].tolist(), args.rounds)
    head_s = head_step_seconds(args.rounds)
    cached = cached_sentences(train_dirs, splits)
    sample = load_split(splits, "task_b", "train")["text"].tolist()[:512]
    encode_s = encode_seconds(sample, args.rounds)
    with tempfile.TemporaryDirectory(prefix="mtst-bench-levers-") as work:
        curves = {"every step": curve_logging_seconds(train_dirs, None, Path(work) / "all.db"),
                  "500 points": curve_logging_seconds(train_dirs, 500, Path(work) / "thin.db")}
    timing = evaluate_timing_seconds(train_dirs, splits, args.rounds)
    optimiser_s = optimiser_seconds(load_split(splits, "task_a", "train")["text"].tolist(), args.rounds)
    checkpoint_s = checkpoint_seconds(TrainFolder(train_dirs[0]).model_dir, args.rounds)
    checkpoints, validated = cached_stage_checkpoints(train_dirs), validated_sentences(train_dirs, splits)
    serving_s = serving_table_seconds(args.artifacts, args.serving_rounds)
    exit_s, commands = process_exit_seconds(args.rounds), 2 * len(train_dirs) + 1
    levers: dict[str, dict[str, Any]] = {
        "encoder step (fp32 -> bf16)": {"old_s": step_s["fp32"] * steps, "new_s": step_s["bf16"] * steps,
                                        "detail": f"{steps} encoder steps, {step_s['fp32']:.3f} vs {step_s['bf16']:.3f} s/step"},
        "head steps (2 threads -> 1)": {"old_s": head_s["2 threads"] * head_steps, "new_s": head_s["1 thread"] * head_steps,
                                        "detail": f"{head_steps} steps, {1000 * head_s['2 threads']:.2f} vs "
                                                  f"{1000 * head_s['1 thread']:.2f} ms/step"},
        "embedding cache (fp32 x128 -> bf16 x32)": {
            "old_s": encode_s["fp32 x128"] * cached, "new_s": encode_s["bf16 x32"] * cached,
            "detail": f"{cached} sentences, {1 / encode_s['fp32 x128']:.0f} vs {1 / encode_s['bf16 x32']:.0f} sentences/s"},
        "AdamW (per-parameter loop -> fused)": {
            "old_s": optimiser_s["loop"] * steps, "new_s": optimiser_s["fused"] * steps,
            "detail": f"{steps} encoder steps, {1000 * optimiser_s['loop']:.0f} vs {1000 * optimiser_s['fused']:.0f} ms/update"},
        "cached-stage checkpoints (encoder written -> linked)": {
            "old_s": checkpoint_s["written"] * checkpoints, "new_s": checkpoint_s["linked"] * checkpoints,
            "detail": f"{checkpoints} checkpoints, {1000 * checkpoint_s['written']:.0f} vs "
                      f"{1000 * checkpoint_s['linked']:.0f} ms each"},
        "validation (fp32 -> bf16 x32)": {
            "old_s": encode_s["fp32 x32"] * validated, "new_s": encode_s["bf16 x32"] * validated,
            "detail": f"{validated} sentences, {1 / encode_s['fp32 x32']:.0f} vs {1 / encode_s['bf16 x32']:.0f} sentences/s"},
        "MLflow curves (every step -> 500 points)": {"old_s": curves["every step"], "new_s": curves["500 points"],
                                                     "detail": f"{len(train_dirs)} variants' histories"},
        "evaluate timing (512x3 -> 256x1)": {"old_s": timing["old"], "new_s": timing["new"],
                                              "detail": f"{len(train_dirs)} evaluations"},
        "serving table (whole split -> timed sample)": {
            "old_s": serving_s["whole split"], "new_s": serving_s["timed sample"],
            "detail": "the champion, every backend; the evaluated one keeps the evaluation's scores"},
        "process exit (teardown -> gc.freeze)": {
            "old_s": exit_s["teardown"] * commands, "new_s": exit_s["frozen"] * commands,
            "detail": f"{commands} commands, {exit_s['teardown']:.2f} vs {exit_s['frozen']:.2f} s each"},
    }
    for lever in levers.values():
        lever["saved_s"], lever["ratio"] = lever["old_s"] - lever["new_s"], lever["old_s"] / lever["new_s"]
    rows = [{"lever": name, "old setting, s": lever["old_s"], "new setting, s": lever["new_s"],
             "saved, s": lever["saved_s"], "ratio": lever["ratio"], "detail": lever["detail"]}
            for name, lever in levers.items()]
    notes = (f"Each lever's old and new setting measured side by side on the pipeline outputs under "
             f"`{args.artifacts}` ({len(train_dirs)} trained variants) and scaled to one pipeline run; "
             "read the ratios of one run, not absolute seconds across runs.")
    write_results("pipeline_levers", {"levers": levers, "load_average_1min": os.getloadavg()[0],
                                      "threads": torch.get_num_threads()}, rows,
                  title="Pipeline-speed levers: old vs new setting", notes=notes, out=args.out)
    print(f"{'lever':44s} {'old s':>8s} {'new s':>8s} {'saved s':>8s} {'ratio':>6s}  detail")
    for name, lever in levers.items():
        print(f"{name:44s} {lever['old_s']:8.1f} {lever['new_s']:8.1f} {lever['saved_s']:8.1f} {lever['ratio']:6.2f}  {lever['detail']}")
    print(f"(full report: {args.out})")


if __name__ == "__main__":
    main()
