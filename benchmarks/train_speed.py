"""Training-speed benchmark (not a test): ratios measured in one run on this machine.

(a) the frozen stage with the embedding cache vs re-encoding every batch through the frozen encoder;
(b) encoder-training throughput with dynamic padding + length grouping (and + bf16 autocast) vs fixed
    padding to 128 in fp32, with validation macro-F1 after the same steps so bf16's accuracy is visible.

    .venv/bin/python benchmarks/train_speed.py [--rows 500] [--epochs N] [--steps 20] [--out reports/bench_train_speed.json]

Machines here are shared and noisy: compare the ratios, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from mtst.config import PrepareParams, load_params
from mtst.steps import prepare, train
from mtst.training.schema import VariantParams

from results import default_out, write_results
from mtst.contracts.training import STAGES


def _run(params, name: str, spec: dict, train_overrides: dict, splits: Path, out: Path) -> dict:
    variants = {name: VariantParams.model_validate(spec)}
    tp = params.train.model_copy(update={"variants": variants, "checkpoint_every": 10**9, **train_overrides})
    summary = train.run(params.model_copy(update={"train": tp}), name, splits, out / name, show_progress=False)
    stages = json.loads((out / name / STAGES).read_text())
    return {"wall_s": stages[0]["wall_s"], "steps": stages[0]["steps"], "rows": summary["train_rows"],
            "validation": summary["validation"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500, help="training rows per task")
    parser.add_argument("--epochs", type=float, default=None,
                        help="frozen-stage epochs for (a); default: the `frozen` variant's, since the ratio grows with them")
    parser.add_argument("--steps", type=int, default=20, help="encoder-training steps per config for (b)")
    parser.add_argument("--out", type=Path, default=default_out("train_speed"))
    args = parser.parse_args()

    params = load_params("params.yaml")
    if args.epochs is None:
        args.epochs = params.train.variants["frozen"].stages[0].epochs
    work = Path(tempfile.mkdtemp(prefix="mtst-bench-"))
    os.environ["MTST_EMBEDDING_CACHE"] = str(work / "cache")  # a cold cache: encoding time is counted
    splits = work / "splits"
    prepare.run(PrepareParams(task_a_train_limit=args.rows, task_b_train_limit=args.rows, validation_limit=200,
                              test_limit=10), "data", splits)

    frozen = {"stages": [{"name": "heads", "encoder": "frozen", "epochs": args.epochs, "lr_head": 0.01}]}
    cached = _run(params, "frozen_cached", frozen, {"embedding_cache": True}, splits, work)
    recoded = _run(params, "frozen_reencode", frozen, {"embedding_cache": False}, splits, work)

    full = {"stages": [{"name": "full", "encoder": "all", "max_steps": args.steps, "epochs": 100}]}
    baseline = _run(params, "fixed128_fp32", full, {"pad_to": 128, "length_grouping": False, "bf16": False}, splits, work)
    dynamic = _run(params, "dynamic_grouped_fp32", full, {"pad_to": None, "length_grouping": True, "bf16": False}, splits, work)
    bf16 = _run(params, "dynamic_grouped_bf16", full, {"pad_to": None, "length_grouping": True, "bf16": True}, splits, work)

    batch = params.train.batch_size
    per_s = {k: args.steps * batch / v["wall_s"] for k, v in
             {"fixed128_fp32": baseline, "dynamic_grouped_fp32": dynamic, "dynamic_grouped_bf16": bf16}.items()}
    result = {
        "frozen_stage": {"cached": cached, "reencode": recoded, "ratio": recoded["wall_s"] / cached["wall_s"]},
        "throughput_sentences_per_s": per_s,
        "throughput_ratio_dynamic_vs_fixed128": per_s["dynamic_grouped_fp32"] / per_s["fixed128_fp32"],
        "throughput_ratio_dynamic_bf16_vs_fixed128": per_s["dynamic_grouped_bf16"] / per_s["fixed128_fp32"],
        "validation_after_steps": {k: v["validation"] for k, v in
                                   {"fixed128_fp32": baseline, "dynamic_grouped_fp32": dynamic, "dynamic_grouped_bf16": bf16}.items()},
        "settings": vars(args) | {"out": str(args.out), "batch_size": batch, "threads": __import__("torch").get_num_threads()},
    }
    configs = {"fixed128_fp32": baseline, "dynamic_grouped_fp32": dynamic, "dynamic_grouped_bf16": bf16}
    rows = [{"measurement": "frozen stage, embedding cache", "wall s": cached["wall_s"], "steps": cached["steps"],
             "ratio": 1.0},
            {"measurement": "frozen stage, re-encoding every batch", "wall s": recoded["wall_s"],
             "steps": recoded["steps"], "ratio": result["frozen_stage"]["ratio"]},
            *({"measurement": f"encoder training, {name}", "wall s": run["wall_s"], "steps": run["steps"],
               "sentences/s": per_s[name], "ratio": per_s[name] / per_s["fixed128_fp32"],
               "validation": run["validation"]} for name, run in configs.items())]
    notes = (f"{args.rows} training rows a task. Frozen stage: wall time with the embedding cache and re-encoding "
             "every batch (ratio: re-encoding / cached). Encoder training: throughput of each padding / precision "
             f"configuration over {args.steps} steps of batch {batch} (ratio: to fixed padding to 128 in fp32), with "
             "the validation scores after those steps. Compare the ratios, not absolute seconds across runs.")
    write_results("train_speed", result, rows, title="Training speed: embedding cache, padding, bf16", notes=notes,
                  out=args.out)
    print(json.dumps({k: result[k] for k in ("throughput_sentences_per_s", "throughput_ratio_dynamic_vs_fixed128",
                                             "throughput_ratio_dynamic_bf16_vs_fixed128")}, indent=2))
    print(f"frozen stage: cached {cached['wall_s']:.1f} s vs re-encoding {recoded['wall_s']:.1f} s -> "
          f"{result['frozen_stage']['ratio']:.1f}x   (full report: {args.out})")


if __name__ == "__main__":
    main()
