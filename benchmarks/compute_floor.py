"""How close the pipeline's heavy work runs to this machine's arithmetic limit (not a test).

The default pipeline spends most of its time in two kinds of work: encoder training steps (bf16 autocast
where ``train.bf16: auto`` resolves on) and fp32 encoding of the test splits (evaluate, compare). This
measures, in one run:

- ``peak``: the machine's matrix-multiply rate in fp32 and bf16 (GFLOP/s, the best of a large square product
  and the encoder's own feed-forward shape), on torch's threads;
- ``encoder step``: one whole-encoder training step (batch 32 of length-grouped Task A rows, forward,
  backward, fused AdamW) — its FLOPs counted by ``torch.utils.flop_counter`` and its median time;
- ``test encoding``: fp32 ``encode`` of test rows at batch 32 (sorted by length, as evaluate runs it).

For each, the achieved GFLOP/s and the fraction of the matching peak: near 1, only fewer FLOPs (fewer or
shorter steps, a lower precision) make that work faster; well below 1, there is overhead left to cut.

    .venv/bin/python benchmarks/compute_floor.py [--artifacts artifacts] [--rounds 5] [--out reports/bench_compute_floor.json]

Machines here are shared and noisy: the fractions come from one run, peak and work side by side.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from mtst.data.datasets import load_split
from mtst.model import MultiTaskSentenceTransformer

from results import default_out, write_results


def median_seconds(work: Callable[[], object], rounds: int) -> float:
    work()  # warm-up: oneDNN picks its kernels on the first call of a shape
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def counted_flops(work: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        work()
    return counter.get_total_flops()


def peak_gflops(dtype: torch.dtype, rounds: int) -> float:
    """The best matrix-multiply rate of two shapes: 2048² square, and a batch of 32 x 40 tokens through the
    encoder's 384 → 1536 feed-forward layer."""
    best = 0.0
    for m, k, n in ((2048, 2048, 2048), (32 * 40, 384, 1536)):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        seconds = median_seconds(lambda: torch.mm(a, b), rounds)
        best = max(best, 2 * m * k * n / seconds / 1e9)
    return best


def encoder_step(texts: list[str]) -> Callable[[], None]:
    """One training step of the whole encoder in bf16 autocast with fused AdamW, on a mid-length batch."""
    model = MultiTaskSentenceTransformer({"task_a": ["a", "b", "c", "d", "e"]})
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-9, fused=True)
    batch = model.tokenize(sorted(texts, key=len)[len(texts) // 2:len(texts) // 2 + 32])
    labels = torch.zeros(32, dtype=torch.long)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(batch["input_ids"], batch["attention_mask"])["task_a"]
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        optimiser.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", default="artifacts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--test-rows", type=int, default=512)
    parser.add_argument("--out", default=str(default_out("compute_floor")))
    args = parser.parse_args()
    splits = Path(args.artifacts) / "splits"
    train = load_split(splits, "task_a", "train")["text"].tolist()
    test = load_split(splits, "task_a", "test")["text"].tolist()[:args.test_rows]

    peak = {"fp32": peak_gflops(torch.float32, args.rounds), "bf16": peak_gflops(torch.bfloat16, args.rounds)}
    step = encoder_step(train)
    step_flops, step_s = counted_flops(step), median_seconds(step, args.rounds)
    encoder = MultiTaskSentenceTransformer({"task_a": ["a", "b", "c", "d", "e"]})
    encode = lambda: encoder.encode(test, batch_size=32)  # noqa: E731 - the work timed and counted
    encode_flops, encode_s = counted_flops(encode), median_seconds(encode, max(1, args.rounds // 2))
    result = {
        "threads": torch.get_num_threads(),
        "peak_gflops": peak,
        "encoder_step": {"gflop": step_flops / 1e9, "seconds": step_s, "gflops": step_flops / step_s / 1e9,
                         "fraction_of_bf16_peak": step_flops / step_s / 1e9 / peak["bf16"]},
        "test_encoding": {"sentences": len(test), "gflop_per_sentence": encode_flops / len(test) / 1e9,
                          "sentences_per_s": len(test) / encode_s, "gflops": encode_flops / encode_s / 1e9,
                          "fraction_of_fp32_peak": encode_flops / encode_s / 1e9 / peak["fp32"]},
    }
    print(f"peak matrix multiply on {result['threads']} threads: fp32 {peak['fp32']:.0f} GFLOP/s, "
          f"bf16 {peak['bf16']:.0f} GFLOP/s")
    s = result["encoder_step"]
    print(f"encoder step (bf16 autocast, batch 32): {s['gflop']:.1f} GFLOP in {s['seconds']:.3f} s = "
          f"{s['gflops']:.0f} GFLOP/s, {s['fraction_of_bf16_peak']:.2f} of the bf16 peak")
    e = result["test_encoding"]
    print(f"test encoding (fp32, batch 32): {e['gflop_per_sentence']:.2f} GFLOP a sentence, "
          f"{e['sentences_per_s']:.0f} sentences/s = {e['gflops']:.0f} GFLOP/s, {e['fraction_of_fp32_peak']:.2f} "
          "of the fp32 peak")
    rows = [{"work": "peak matrix multiply, fp32", "GFLOP/s": peak["fp32"]},
            {"work": "peak matrix multiply, bf16", "GFLOP/s": peak["bf16"]},
            {"work": "encoder step (bf16 autocast, batch 32)", "GFLOP": s["gflop"], "seconds": s["seconds"],
             "GFLOP/s": s["gflops"], "fraction of peak": s["fraction_of_bf16_peak"]},
            {"work": "test encoding (fp32, batch 32)", "GFLOP": e["gflop_per_sentence"] * e["sentences"],
             "seconds": e["sentences"] / e["sentences_per_s"], "GFLOP/s": e["gflops"],
             "fraction of peak": e["fraction_of_fp32_peak"], "sentences/s": e["sentences_per_s"]}]
    notes = (f"The heavy work of the pipeline against this machine's matrix-multiply peak, on {result['threads']} "
             "threads: the encoder step against the bf16 peak, test encoding against the fp32 peak. Near 1, only "
             "fewer FLOPs make that work faster; well below 1, there is overhead left to cut.")
    write_results("compute_floor", result, rows, title="Compute floor: work against the matrix-multiply peak",
                  notes=notes, out=args.out,
                  columns=["work", "GFLOP", "seconds", "GFLOP/s", "fraction of peak", "sentences/s"])
    print(f"(full report: {args.out})")


if __name__ == "__main__":
    main()
