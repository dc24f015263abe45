"""Inference benchmark (not a test): torch fp32 vs ONNX Runtime fp32 and int8 vs OpenVINO fp32, bf16 and int8,
measured in one run.

On the same real test-split sentences of both tasks, with torch and ONNX Runtime given the same threads:
sentences/s per task (batch 32, sorted by length, dynamic padding; median of interleaved rounds), the
largest absolute difference of the probabilities from torch's, macro-F1 per task on the whole test split and
its change, predictions that changed, size on disk, and the ratios to torch. ``onnx_int8`` is ``mtst export
--int8`` (ONNX Runtime's ``quantize_dynamic``: int8 per-channel weights, int8 activations per batch); a further
row, ``onnx_int8_nbits``, is ONNX Runtime's block quantiser (``MatMulNBits``) on the same graph: the
alternative it was chosen over (closer to torch, but short of 2x). ``openvino_fp32`` and ``openvino_bf16`` are
the backends ``openvino`` and ``openvino-bf16``: OpenVINO compiling the same fp32 export (bf16 compute where the
CPU has bf16 instructions; the precision that ran is printed); ``openvino_int8`` is ``openvino-int8``: NNCF's
static int8 of that export, calibrated on the validation split (``mtst.export.openvino_int8``).

    .venv/bin/python benchmarks/onnx_inference.py [--model DIR --splits DIR] [--threads 2] [--rounds 5]
        [--speed-sentences 256] [--work DIR] [--out reports/bench_onnx_inference.json]

Without ``--model``: ``artifacts/train/staged`` with ``artifacts/splits`` when present, else a smoke model
whose encoder is really fine-tuned (``staged_noaug`` on the smoke profile: staged without augmentation) is
trained into ``--work`` (kept there, so a second run reuses it). Machines here are shared and noisy:
compare the ratios within one run, not the absolute sentences/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from mtst.config import load_params
from mtst.data.datasets import load_split
from mtst.evaluation.speed import dir_size_mb
from mtst.export.layout import CONFIG_FILE, MODEL_FILE
from mtst.export.onnx_export import export_onnx, resolve_model_dir
from mtst.export.onnx_model import OnnxModel
from mtst.export.openvino_int8 import calibration_sentences, quantise_openvino
from mtst.export.openvino_model import OpenVinoModel
from mtst.cpu import describe
from mtst.model import MultiTaskSentenceTransformer

from results import default_out, write_results
from mtst.tasks import TASK_NAMES
from mtst.contracts.training import MODEL, MODEL_CONFIG
from mtst.dag import LAYOUT

TASKS = TASK_NAMES


def smoke_model(work: Path, variant: str) -> tuple[Path, Path]:
    """``variant`` trained on the smoke profile's splits under ``work`` (reused when already there)."""
    from mtst.steps import prepare, train

    params = load_params("params.yaml", "smoke")
    splits, train_dir = work / "splits", work / "train" / variant
    if not (splits / "task_a" / "test.jsonl").exists():
        prepare.run(params.prepare, "data", splits)
    if not (train_dir / MODEL / MODEL_CONFIG).exists():
        print(f"training {variant} on the smoke profile into {train_dir} ...", flush=True)
        start = time.perf_counter()
        train.run(params, variant, splits, train_dir, show_progress=False)
        print(f"  trained in {time.perf_counter() - start:.0f} s", flush=True)
    return train_dir / "model", splits


def nbits_int8(fp32_dir: Path, out: Path) -> None:
    """``fp32_dir`` with ONNX Runtime's block quantiser as the graph: ``MatMulNBits`` with 8-bit weights in blocks
    of 128 and int8 activations per block (``accuracy_level`` 4): the alternative ``mtst export --int8``
    (``quantize_dynamic``) was measured against."""
    import logging

    import onnx

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits  # its import turns on INFO logging

    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger(nbits.__name__).setLevel(logging.WARNING)
    shutil.copytree(fp32_dir, out)
    settings = {"bits": 8, "block_size": 128, "accuracy_level": 4}
    config = nbits.DefaultWeightOnlyQuantConfig(is_symmetric=True, op_types_to_quantize=("MatMul",), **settings)
    quantiser = nbits.MatMulNBitsQuantizer(onnx.load(str(fp32_dir / MODEL_FILE)), is_symmetric=True,
                                           op_types_to_quantize=("MatMul",), algo_config=config, **settings)
    quantiser.process()
    quantiser.model.save_model_to_file(str(out / MODEL_FILE))
    config_file = json.loads((out / CONFIG_FILE).read_text())
    config_file["quantisation"] = {"method": "MatMulNBits", **settings, "symmetric": True, "op_types": ["MatMul"]}
    (out / CONFIG_FILE).write_text(json.dumps(config_file))


def timed_rounds(models: dict[str, Any], texts: list[str], batch_size: int, rounds: int) -> dict[str, list[float]]:
    """Sentences/s of every model per round. Models take turns within a round, in reverse order every other
    round, so a swing in the machine's load hits all of them alike."""
    rates: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(rounds):
        for name in list(models)[:: 1 if round_ % 2 == 0 else -1]:
            model = models[name]
            start = time.perf_counter()
            model.predict_proba(texts, batch_size=batch_size)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="saved model or training folder (default: see above)")
    parser.add_argument("--splits", type=Path, help="splits folder whose test split is used (with --model)")
    parser.add_argument("--variant", default="staged_noaug", help="smoke variant to train without --model")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mtst-bench-onnx",
                        help="where the smoke model and the exports go")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads (equal)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes per backend and task")
    parser.add_argument("--speed-sentences", type=int, default=256, help="test sentences per task that are timed")
    parser.add_argument("--out", type=Path, default=default_out("onnx_inference"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.model:
        model_dir, splits = resolve_model_dir(args.model), args.splits or Path(LAYOUT.splits)
    elif (Path(LAYOUT.train("staged")) / MODEL / MODEL_CONFIG).exists() and Path(LAYOUT.splits).is_dir():
        model_dir, splits = Path(LAYOUT.train("staged")) / MODEL, Path(LAYOUT.splits)
    else:
        model_dir, splits = smoke_model(args.work, args.variant)
    exports = args.work / "exports"
    export_s = {}
    for name, int8 in (("onnx_fp32", False), ("onnx_int8", True)):
        start = time.perf_counter()
        export_onnx(model_dir, exports / name, int8=int8)
        export_s[name] = time.perf_counter() - start
    shutil.rmtree(exports / "onnx_int8_nbits", ignore_errors=True)
    nbits_int8(exports / "onnx_fp32", exports / "onnx_int8_nbits")
    start = time.perf_counter()
    quantise_openvino(exports / "onnx_fp32", exports / "openvino_int8", calibration_sentences(splits, TASKS))
    export_s["openvino_int8"] = time.perf_counter() - start

    models: dict[str, Any] = {"torch_fp32": MultiTaskSentenceTransformer.load(model_dir)}
    for name in ("onnx_fp32", "onnx_int8", "onnx_int8_nbits"):
        models[name] = OnnxModel.load(exports / name, threads=args.threads)
    for name, bf16 in (("openvino_fp32", False), ("openvino_bf16", True)):
        models[name] = OpenVinoModel.load(exports / "onnx_fp32", threads=args.threads, bf16=bf16)
    models["openvino_int8"] = OpenVinoModel.load(exports / "openvino_int8", threads=args.threads)
    sizes = {"torch_fp32": dir_size_mb(model_dir),
             **{name: dir_size_mb(Path(model.model_file).parent) for name, model in models.items() if name != "torch_fp32"}}

    rng = np.random.default_rng(0)
    load_before = os.getloadavg()
    result: dict[str, Any] = {name: {"size_mb": sizes[name]} for name in models}
    for task in TASKS:
        frame = load_split(splits, task, "test")
        texts, labels = frame["text"].tolist(), models["torch_fp32"].tasks[task]
        y = frame["label"].map({label: i for i, label in enumerate(labels)}).to_numpy()
        probabilities = {name: model.predict_proba(texts, batch_size=args.batch_size)[task] for name, model in models.items()}
        sample = [texts[i] for i in rng.choice(len(texts), size=min(args.speed_sentences, len(texts)), replace=False)]
        rates = timed_rounds(models, sample, args.batch_size, args.rounds)
        reference = probabilities["torch_fp32"]
        f1_torch = 100 * f1_score(y, reference.argmax(1), average="macro")
        for name, proba in probabilities.items():
            f1 = 100 * f1_score(y, proba.argmax(1), average="macro")
            result[name][task] = {
                "test_sentences": len(texts), "macro_f1": f1, "macro_f1_change": f1 - f1_torch,
                "predictions_changed": int((proba.argmax(1) != reference.argmax(1)).sum()),
                "max_abs_diff": float(np.abs(proba - reference).max()),
                "sentences_per_s": statistics.median(rates[name]),
                "ratio_to_torch": statistics.median(a / b for a, b in zip(rates[name], rates["torch_fp32"], strict=True)),
                "rounds_sentences_per_s": rates[name],
            }
    load_after = os.getloadavg()

    settings = {"model": str(model_dir), "splits": str(splits), "threads": args.threads, "batch_size": args.batch_size,
                "rounds": args.rounds, "speed_sentences": args.speed_sentences, "export_s": export_s,
                "openvino_bf16_precision": models["openvino_bf16"].precision,
                "load_average_1min": [load_before[0], load_after[0]], "cpu": describe()}
    _print_table(result, settings)
    write_results("onnx_inference", {"settings": settings, "backends": result}, _rows(result),
                  title="Inference: torch vs ONNX Runtime vs OpenVINO", notes=_notes(settings), out=args.out)
    print(f"(full report: {args.out})")


def _rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per backend: speed and ratio to torch per task, macro-F1 and its change, size."""
    torch_mb = result["torch_fp32"]["size_mb"]
    rows = []
    for name, row in result.items():
        a, b = row["task_a"], row["task_b"]
        rows.append({"backend": name, "A sentences/s": a["sentences_per_s"], "A ratio": a["ratio_to_torch"],
                     "B sentences/s": b["sentences_per_s"], "B ratio": b["ratio_to_torch"],
                     "max abs diff of probabilities": max(a["max_abs_diff"], b["max_abs_diff"]),
                     "A macro-F1": a["macro_f1"], "A change": a["macro_f1_change"],
                     "A predictions changed": a["predictions_changed"],
                     "B macro-F1": b["macro_f1"], "B change": b["macro_f1_change"],
                     "B predictions changed": b["predictions_changed"],
                     "size MB": row["size_mb"], "size ratio": row["size_mb"] / torch_mb})
    return rows


def _notes(settings: dict[str, Any]) -> str:
    return (f"Model `{settings['model']}`, the whole test split of `{settings['splits']}` per task (macro-F1, change "
            f"against torch fp32 in points); speed on {settings['speed_sentences']} sentences a task, batch "
            f"{settings['batch_size']}, {settings['threads']} threads each, median of {settings['rounds']} interleaved "
            f"rounds; `openvino_bf16` computed in {settings['openvino_bf16_precision']}; load average "
            f"{settings['load_average_1min'][0]:.1f} -> {settings['load_average_1min'][1]:.1f}. Compare ratios within "
            "one run, not absolute sentences/s across runs.")


def _print_table(result: dict[str, Any], settings: dict[str, Any]) -> None:
    print(f"\nmodel {settings['model']}; test split of {settings['splits']}; {settings['threads']} threads each, "
          f"batch {settings['batch_size']}; {settings['cpu']}; load average {settings['load_average_1min'][0]:.1f} "
          f"-> {settings['load_average_1min'][1]:.1f}; openvino_bf16 computed in {settings['openvino_bf16_precision']}")
    header = (f"{'backend':18s} {'A sent/s':>9s} {'ratio':>6s} {'B sent/s':>9s} {'ratio':>6s} {'max|dp|':>9s} "
              f"{'A F1':>6s} {'dF1':>6s} {'chg':>4s} {'B F1':>6s} {'dF1':>6s} {'chg':>4s} {'MB':>6s} {'ratio':>6s}")
    print(header)
    print("-" * len(header))
    torch_mb = result["torch_fp32"]["size_mb"]
    for name, row in result.items():
        a, b = row["task_a"], row["task_b"]
        print(f"{name:18s} {a['sentences_per_s']:9.1f} {a['ratio_to_torch']:6.2f} {b['sentences_per_s']:9.1f} "
              f"{b['ratio_to_torch']:6.2f} {max(a['max_abs_diff'], b['max_abs_diff']):9.2e} {a['macro_f1']:6.2f} "
              f"{a['macro_f1_change']:+6.2f} {a['predictions_changed']:4d} {b['macro_f1']:6.2f} {b['macro_f1_change']:+6.2f} "
              f"{b['predictions_changed']:4d} {row['size_mb']:6.1f} {row['size_mb'] / torch_mb:6.2f}")
    checks = {}
    for name, label in (("onnx_fp32", "ONNX fp32"), ("openvino_fp32", "OpenVINO fp32")):
        row = result[name]
        checks[f"{label} probabilities within 1e-4 of torch"] = max(row[t]["max_abs_diff"] for t in TASKS) <= 1e-4
        checks[f"{label} throughput >= 1.0x torch (both tasks)"] = min(row[t]["ratio_to_torch"] for t in TASKS) >= 1.0
    for name, label in (("onnx_int8", "ONNX int8"), ("openvino_bf16", "OpenVINO bf16"), ("openvino_int8", "OpenVINO int8")):
        row = result[name]
        checks[f"{label} throughput >= 2.0x torch (both tasks)"] = min(row[t]["ratio_to_torch"] for t in TASKS) >= 2.0
        checks[f"{label} loses <= 0.5 macro-F1 points (each task)"] = min(row[t]["macro_f1_change"] for t in TASKS) >= -0.5
    for check, ok in checks.items():
        print(f"  [{'yes' if ok else 'NO '}] {check}")


if __name__ == "__main__":
    main()
