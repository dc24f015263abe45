"""Train every freeze variant of a profile in one process and report wall time and test macro-F1 per
variant (not a test):

    .venv/bin/python benchmarks/train_all_variants.py --profile default --splits artifacts/splits \
        --augmented artifacts/augmented --out /tmp/variants [--encoder DIR] [--report reports/bench_train_all_variants.json]

The trained variants go to ``--out``; the results to ``--report`` and a Markdown table beside it.
The device is whatever ``train.device`` resolves to (``auto``: the GPU when there is one).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from sklearn.metrics import f1_score

from mtst.config import load_params
from mtst.data.datasets import load_split
from mtst.model import MultiTaskSentenceTransformer
from mtst.steps import train

from results import default_out, write_results
from mtst.dag import LAYOUT

ORDER = ["frozen", "full", "staged", "head_a_frozen", "single_a", "single_b"]


def test_macro_f1(model_dir: Path, splits: Path) -> dict[str, float]:
    model = MultiTaskSentenceTransformer.load(model_dir)
    if torch.cuda.is_available():
        model.to("cuda")
    scores = {}
    for task, labels in model.tasks.items():
        frame = load_split(splits, task, "test")
        probs = model.predict_proba(frame["text"].tolist(), batch_size=256)[task]
        truth = [labels.index(label) for label in frame["label"]]
        scores[task] = round(100 * f1_score(truth, probs.argmax(axis=1), average="macro"), 2)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", default="default")
    parser.add_argument("--splits", type=Path, default=Path(LAYOUT.splits))
    parser.add_argument("--augmented", type=Path, default=Path(LAYOUT.augmented))
    parser.add_argument("--out", type=Path, required=True, help="where the trained variants go")
    parser.add_argument("--report", type=Path, default=default_out("train_all_variants"),
                        help="the results' JSON (the Markdown table goes beside it)")
    parser.add_argument("--encoder", help="local encoder dir (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--variants", nargs="*", default=ORDER)
    args = parser.parse_args()

    params = load_params(args.params, args.profile)
    if args.encoder:
        params = params.model_copy(update={"model": params.model.model_copy(update={"encoder": args.encoder})})
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or 'x86_64'}, {torch.get_num_threads()} threads)"
    results: dict[str, dict] = {}
    began = time.perf_counter()
    for variant in args.variants:
        start = time.perf_counter()
        summary = train.run(params, variant, args.splits, args.out / variant, args.augmented, show_progress=False)
        train_s = time.perf_counter() - start
        results[variant] = {"train_wall_s": round(train_s, 1), "steps": summary["steps"],
                            "test_macro_f1": test_macro_f1(args.out / variant / "model", args.splits),
                            "task_a_retained": summary.get("task_a_retained")}
        print(variant, json.dumps(results[variant]), flush=True)
    report = {"device": device, "profile": args.profile, "torch": torch.__version__,
              "total_train_wall_s": round(sum(r["train_wall_s"] for r in results.values()), 1),
              "process_wall_s": round(time.perf_counter() - began, 1), "variants": results}
    rows = [{"variant": variant, "train wall s": r["train_wall_s"], "steps": r["steps"],
             **{f"{task} test macro-F1": f1 for task, f1 in r["test_macro_f1"].items()},
             "task_a_retained": r["task_a_retained"]} for variant, r in results.items()]
    notes = (f"Profile `{args.profile}` on {device}, every variant trained in one process one after the other "
             "(train.device resolved as configured); test macro-F1 on the splits' test rows.")
    write_results("train_all_variants", report, rows, title="Every variant: training time and test macro-F1",
                  notes=notes, out=args.report,
                  columns=["variant", "train wall s", "steps", "task_a test macro-F1", "task_b test macro-F1",
                           "task_a_retained"])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
