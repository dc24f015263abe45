"""int8 and bf16 accuracy per CPU class (not a test): each lower-precision backend's macro-F1 change against
torch on the default test split, on this CPU as it is and capped to the AVX2-only class (``mtst.cpu``).

Why: without VNNI, oneDNN multiplies int8 through 16-bit intermediates that can saturate, so the same int8
graph loses more on an AVX2-only CPU than on one with VNNI, and bf16 is not computed at all there. One run
measures, per class, in a process of its own (the cap must be set before oneDNN starts):

- ``onnx-int8`` (ONNX Runtime: its MLAS kernels ignore the cap, so its AVX2 column is this CPU's again);
- ``openvino-int8`` as exported (NNCF's overflow fix on every layer: 7-bit weights) and
  ``openvino-int8 (8-bit weights)``, the same quantisation with NNCF's default fix (the first layer only);
- ``openvino-bf16``: the backend that ran (``openvino`` where the class has no bf16) and its change;
- the oneDNN kernel that ran the int8 MatMuls, which shows the cap took effect (``jit_gemm``: no VNNI).

torch is each class's own reference (it is capped too). The exports are made once, on this CPU uncapped, as a
pipeline makes them before any node serves them.

    .venv/bin/python benchmarks/int8_classes.py [--work .cache/bench-int8] [--out reports/bench_int8_classes.json]

Writes the JSON and a Markdown table beside it (``.md``), both naming the CPU. Without a trained model in
``--work`` it trains ``frozen`` on the smoke profile's splits there (the test suite's int8 model), scored on
the default profile's test split (`prepare.test_limit` sentences a task).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mtst.cpu import CLASS_CAPS

from results import default_out, write_results
from mtst.tasks import TASK_NAMES
from mtst.contracts.training import MODEL, MODEL_CONFIG

TASKS = TASK_NAMES
ROWS = ("onnx-int8", "openvino-int8", "openvino-int8 (8-bit weights)", "openvino-bf16")
"""What is measured: the row's backend is its first word (the 8-bit row runs another export of openvino-int8)."""
CLASSES: dict[str, dict[str, str]] = {"this CPU": {}, **{f"{name} (capped)": env for name, env in CLASS_CAPS.items()}}


def prepare(work: Path) -> dict[str, str]:
    """The smoke ``frozen`` model, its splits (the default profile's test rows) and the exports, under ``work``."""
    from mtst.config import load_params
    from mtst.export.backend import cached_export, calibration_for
    from mtst.export.openvino_int8 import quantise_openvino
    from mtst.steps import prepare as prepare_step
    from mtst.steps import train

    os.environ.setdefault("MTST_ONNX_CACHE", str(work / "onnx-cache"))
    splits, train_dir = work / "splits", work / "train"
    if not (train_dir / MODEL / MODEL_CONFIG).exists():
        params = load_params("params.yaml", "smoke")
        test_limit = load_params("params.yaml", "default").prepare.test_limit
        prepare_step.run(params.prepare.model_copy(update={"test_limit": test_limit}), "data", splits)
        print(f"training frozen on the smoke profile into {train_dir} ...", flush=True)
        train.run(params, "frozen", splits, train_dir, show_progress=False)
    model = train_dir / "model"
    fp32 = cached_export(model, "fp32")
    calibration = calibration_for(["openvino-int8"], splits, TASKS)
    eight_bit = work / "openvino-int8-first-layer-fix"
    if not eight_bit.exists():
        quantise_openvino(fp32, eight_bit, calibration or [], overflow_fix="first_layer_only")
    return {"model": str(model), "splits": str(splits), "fp32": str(fp32),
            "onnx-int8": str(cached_export(model, "int8")),
            "openvino-int8": str(cached_export(model, "nncf-int8", calibration)),
            "openvino-int8 (8-bit weights)": str(eight_bit)}


def measure(paths: dict[str, str]) -> dict[str, Any]:
    """In this process's class: each backend's macro-F1 change per task against torch, and what ran."""
    import numpy as np
    from sklearn.metrics import f1_score

    from mtst.cpu import instruction_sets
    from mtst.data.datasets import load_split
    from mtst.export import load_backend

    reference = load_backend(paths["model"], "torch")
    tests = {t: load_split(Path(paths["splits"]), t, "test") for t in TASKS}
    truth = {t: f["label"].map({label: i for i, label in enumerate(reference.tasks[t])}).to_numpy() for t, f in tests.items()}
    texts = {t: f["text"].tolist() for t, f in tests.items()}

    def scores(model: Any) -> dict[str, tuple[float, np.ndarray]]:
        out = {}
        for task in TASKS:
            predicted = model.predict_proba(texts[task], batch_size=32)[task].argmax(axis=1)
            out[task] = (100 * f1_score(truth[task], predicted, average="macro"), predicted)
        return out

    torch_scores = scores(reference)
    rows: dict[str, Any] = {"torch": {"ran": "torch", "macro_f1": {t: round(s, 2) for t, (s, _) in torch_scores.items()}}}
    for name in ROWS:
        backend = name.split(" ")[0]
        model = load_backend(paths["fp32" if backend == "openvino-bf16" else name], backend)
        got = scores(model)
        ran = f"{model.backend} ({model.precision})" if backend == "openvino-bf16" else model.backend
        rows[name] = {"ran": ran,
                      "change": {t: round(got[t][0] - torch_scores[t][0], 2) for t in TASKS},
                      "changed_predictions": {t: int((got[t][1] != torch_scores[t][1]).sum()) for t in TASKS}}
        if backend == "openvino-int8":
            rows[name]["kernels"] = model.int8_kernels()
    return {"instruction_sets": instruction_sets(), "rows": rows}


NOTES = ("Macro-F1 change against torch on the same class, in points (Task A / Task B), on the default profile's "
         "test sentences; a capped class runs this CPU's oneDNN kernels at that class's instruction sets "
         "(`mtst.cpu`), torch's too; ONNX Runtime's kernels (`onnx-int8`) ignore the cap, so its capped column is "
         "this CPU's again. In brackets: the backend that ran and the oneDNN kernels of the int8 MatMuls "
         "(`jit_gemm`: no VNNI).")


def markdown(result: dict[str, Any]) -> str:
    """The table: one row per measured backend, one column per CPU class."""
    lines = [f"Test sentences a task: {result['test_rows']}.\n",
             "| backend | " + " | ".join(result["classes"]) + " |", "|---|" + "---|" * len(result["classes"])]
    for name in ROWS:
        cells = []
        for measured in result["classes"].values():
            row = measured["rows"][name]
            change = " / ".join(f"{row['change'][t]:+.2f}" for t in TASKS)
            kernels = f"; {', '.join(row['kernels'])}" if row.get("kernels") else ""
            cells.append(f"{change} ({row['ran']}{kernels})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    torch_f1 = " | ".join(" / ".join(f"{m['rows']['torch']['macro_f1'][t]:.2f}" for t in TASKS)
                          for m in result["classes"].values())
    lines.append(f"| torch macro-F1 | {torch_f1} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(".cache/bench-int8"))
    parser.add_argument("--out", type=Path, default=default_out("int8_classes"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child: JSON of the paths to measure
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return
    paths = prepare(args.work.resolve())
    classes = {}
    for name, env in CLASSES.items():
        print(f"measuring {name} ...", flush=True)
        child = subprocess.run([sys.executable, __file__, "--measure", json.dumps(paths)], env={**os.environ, **env},
                               check=True, capture_output=True, text=True)
        classes[name] = json.loads(child.stdout.strip().splitlines()[-1])
    from mtst.data.datasets import load_split

    rows = len(load_split(Path(paths["splits"]), "task_a", "test"))
    result = {"test_rows": rows, "classes": classes}
    _, md_path = write_results("int8_classes", result, markdown(result), title="int8 and bf16 per CPU class",
                               notes=NOTES, out=args.out)
    print(markdown(result))
    print(f"(written: {args.out}, {md_path})")


if __name__ == "__main__":
    main()
