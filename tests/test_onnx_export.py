"""ONNX export and the ONNX Runtime and OpenVINO backends on a real smoke model: `mtst train --variant frozen
--profile smoke` (the real trainer on the smoke profile's real splits), exported by `mtst export`, compared with
torch: fp32 (ONNX Runtime and OpenVINO) within 1e-4, int8 and bf16 within 0.5 macro-F1 points on each task.

The model is the smoke profile's; its test split is the default profile's (2,000 sentences a task, the
same rows `dvc repro` scores). On the smoke profile's 300 a single changed prediction moves macro-F1 by
0.3-0.5 points, so a 0.5-point tolerance there would test chance, not the quantisation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from mtst.config import ConfigError, load_params
from mtst.data.datasets import load_split
from mtst.export.errors import ModelNotFoundError

runner = CliRunner()
TASKS = ("task_a", "task_b")


@pytest.fixture(scope="module")
def smoke(repo_root, data_dir, tmp_path_factory):
    """Splits and a `frozen` model made with the smoke profile (the embedding cache is the project's, as in
    `dvc repro`, so a rerun skips the encoding), and an ONNX cache of its own."""
    from mtst.steps import prepare, train

    work = tmp_path_factory.mktemp("onnx")
    params = load_params(repo_root / "params.yaml", "smoke")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTST_EMBEDDING_CACHE", str(repo_root / ".cache" / "embeddings"))
        patch.setenv("MTST_ONNX_CACHE", str(work / "onnx-cache"))
        default_test = load_params(repo_root / "params.yaml", "default").prepare.test_limit
        prepare.run(params.prepare.model_copy(update={"test_limit": default_test}), data_dir, work / "splits")
        train.run(params, "frozen", work / "splits", work / "train", show_progress=False)
        yield {"work": work, "splits": work / "splits", "train": work / "train",
               "test": {task: load_split(work / "splits", task, "test") for task in TASKS}}


@pytest.fixture(scope="module")
def torch_model(smoke):
    from mtst.model import MultiTaskSentenceTransformer

    return MultiTaskSentenceTransformer.load(smoke["train"] / "model")


@pytest.fixture(scope="module")
def fp32_export(smoke) -> tuple[Path, dict]:
    """`mtst export --format onnx` of the training folder: the export folder and the command's summary."""
    from mtst.cli import app

    out = smoke["work"] / "export-fp32"
    result = runner.invoke(app, ["export", "--format", "onnx", "--model", str(smoke["train"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_fp32_export_equals_torch_on_real_sentences(smoke, torch_model, fp32_export):
    from mtst.evaluation.speed import measure_throughput
    from mtst.export import load_backend
    from mtst.serving import predict_frame

    out, summary = fp32_export
    assert summary["backend"] == "onnx" and summary["quantisation"] is None
    assert summary["fused_operators"]["Attention"] == 6  # the fusion that makes ONNX Runtime fast did happen
    assert sorted(p.name for p in out.iterdir()) == [".mtst-output", "heads.onnx", "model.onnx", "mtst_onnx.json",
                                                     "tokenizer"]

    model = load_backend(out, "onnx")
    assert model.tasks == torch_model.tasks and model.max_length == torch_model.max_length
    texts = _extreme_lengths(smoke)  # in batches of 16
    expected_embedding = torch_model.encode(texts, batch_size=16)
    embedding = model.encode(texts, batch_size=16)
    assert np.abs(embedding - expected_embedding).max() <= 1e-4
    probabilities = model.predict_proba(texts, batch_size=16)
    for task in TASKS:
        expected = torch_model.predict_proba_from_embeddings(expected_embedding, task)
        assert probabilities[task].shape == expected.shape
        assert np.abs(probabilities[task] - expected).max() <= 1e-4
        assert np.abs(model.predict_proba_from_embeddings(expected_embedding, task) - expected).max() <= 1e-4

    # the surface that serving (the pyfunc), `mtst predict` and `mtst evaluate` use
    frame, expected_frame = predict_frame(model, texts[:8]), predict_frame(torch_model, texts[:8])
    assert list(frame.columns) == list(expected_frame.columns)
    for column in frame.columns:
        if column.endswith("_label"):
            assert list(frame[column]) == list(expected_frame[column])
        else:
            assert np.abs(frame[column] - expected_frame[column]).max() <= 1e-4
    assert measure_throughput(model, texts[:16], batch_size=8, repeats=1)["sentences_per_s"] > 0
    assert {k: v.shape for k, v in model.predict_proba([]).items()} == {"task_a": (0, 5), "task_b": (0, 3)}
    assert model.size()["parameters"] == pytest.approx(sum(p.numel() for p in torch_model.parameters()), rel=0.01)


def _extreme_lengths(smoke) -> list[str]:
    """The longest and shortest test sentences of both tasks: padding and batch shapes vary."""
    texts = []
    for task in TASKS:
        by_length = sorted(smoke["test"][task]["text"], key=len)
        texts += by_length[:24] + by_length[-24:]
    return texts


@pytest.fixture(scope="module")
def torch_proba(smoke, torch_model) -> dict[str, np.ndarray]:
    """torch's probabilities on the default test split, per task: the reference of every quality test here."""
    return {task: torch_model.predict_proba(smoke["test"][task]["text"].tolist(), batch_size=32)[task]
            for task in TASKS}


def _labels(smoke, torch_model, task: str) -> np.ndarray:
    return smoke["test"][task]["label"].map({label: i for i, label in enumerate(torch_model.tasks[task])}).to_numpy()


def _change(smoke, torch_model, torch_proba, task: str, predicted: np.ndarray, backend: str) -> float:
    """Macro-F1 points gained against torch on the task's default test split (negative: lost)."""
    y, expected = _labels(smoke, torch_model, task), torch_proba[task].argmax(1)
    change = 100 * (f1_score(y, predicted, average="macro") - f1_score(y, expected, average="macro"))
    print(f"\n{task} ({backend}): {len(y)} test sentences, macro-F1 {change:+.2f} points against torch, "
          f"{int((predicted != expected).sum())} predictions changed")
    return change


def _against_torch(smoke, torch_model, torch_proba, model) -> dict[str, tuple[float, float]]:
    """Per task on the default test split: macro-F1 points gained against torch (negative: lost), and the
    largest absolute difference of the probabilities from torch's."""
    out = {}
    for task in TASKS:
        got = model.predict_proba(smoke["test"][task]["text"].tolist(), batch_size=32)[task]
        out[task] = (_change(smoke, torch_model, torch_proba, task, got.argmax(1), model.backend),
                     float(np.abs(got - torch_proba[task]).max()))
    return out


def test_openvino_runs_the_fp32_export_like_torch(smoke, torch_model):
    """`openvino` compiles the cached fp32 export (the same file `onnx` runs: one export for both) and answers
    like torch within 1e-4, through the whole graph and through the heads."""
    from mtst.export import load_backend

    model = load_backend(smoke["train"], "openvino")
    assert (model.backend, model.precision) == ("openvino", "f32")
    assert model.model_file == load_backend(smoke["train"], "onnx").model_file
    texts = _extreme_lengths(smoke)
    expected_embedding = torch_model.encode(texts, batch_size=16)
    assert np.abs(model.encode(texts, batch_size=16) - expected_embedding).max() <= 1e-4
    probabilities = model.predict_proba(texts, batch_size=16)
    for task in TASKS:
        expected = torch_model.predict_proba_from_embeddings(expected_embedding, task)
        assert np.abs(probabilities[task] - expected).max() <= 1e-4
        assert np.abs(model.predict_proba_from_embeddings(expected_embedding, task) - expected).max() <= 1e-4
    assert {k: v.shape for k, v in model.predict_proba([]).items()} == {"task_a": (0, 5), "task_b": (0, 3)}


def test_openvino_bf16_keeps_macro_f1_within_half_a_point_on_the_default_test_split(smoke, torch_model, torch_proba):
    """Where the CPU has bf16 instructions the encoder really computes in bf16 (its probabilities move), within
    0.5 macro-F1 points of torch on each task; elsewhere it is the ``openvino`` backend in fp32, and says so."""
    from mtst.cpu import has_bf16
    from mtst.export import load_backend

    model = load_backend(smoke["train"], "openvino-bf16")
    assert (model.backend, model.precision) == (("openvino-bf16", "bf16") if has_bf16() else ("openvino", "f32"))
    for task, (change, difference) in _against_torch(smoke, torch_model, torch_proba, model).items():
        if model.precision == "bf16":
            assert 1e-4 < difference < 0.05, f"{task}: probabilities differ by {difference:.1e}"
        else:
            assert difference <= 1e-4, f"{task}: probabilities differ by {difference:.1e}"
        assert change >= -0.5, f"{task}: openvino-bf16 loses {-change:.2f} macro-F1 points"


def test_int8_keeps_macro_f1_within_half_a_point_on_the_default_test_split(smoke, torch_model, torch_proba):
    from mtst.export import load_backend
    from mtst.export.backend import cache_root

    start = time.perf_counter()
    model = load_backend(smoke["train"], "onnx-int8")  # exported into the cache on first use
    first_s = time.perf_counter() - start
    assert model.backend == "onnx-int8" and model.quantisation["method"] == "quantize_dynamic"
    folder = model.model_file.parent
    assert folder.parent == cache_root() and folder.name.endswith("-int8")
    graph = (folder / "model.onnx").read_bytes()
    assert b"DynamicQuantizeLinear" in graph and b"MatMulInteger" in graph  # really quantised: an fp32 graph would pass trivially

    for task, (change, difference) in _against_torch(smoke, torch_model, torch_proba, model).items():
        assert 0 < difference < 0.05, f"{task}: probabilities differ by {difference:.1e}"
        assert change >= -0.5, f"{task}: int8 loses {-change:.2f} macro-F1 points"

    mtime = (folder / "model.onnx").stat().st_mtime_ns
    start = time.perf_counter()
    again = load_backend(smoke["train"] / "model", "onnx-int8")  # the model folder itself: same cache entry
    assert time.perf_counter() - start < first_s and (folder / "model.onnx").stat().st_mtime_ns == mtime
    assert again.model_file == folder / "model.onnx"
    assert load_backend(folder, "onnx-int8").backend == "onnx-int8"


def _largest_matmul_weight(graph: Path) -> int:
    """The largest magnitude of the int8 weights feeding a MatMul in an OpenVINO IR (127 at 8 bits)."""
    import openvino as ov

    widest = 0
    for op in ov.Core().read_model(str(graph)).get_ordered_ops():
        if op.get_type_name() != "Constant" or op.get_element_type() != ov.Type.i8:
            continue
        todo, feeds = [op], False  # a weight reaches its MatMul through Convert / Subtract / Multiply
        while todo and not feeds:
            for output in todo.pop().outputs():
                for target in output.get_target_inputs():
                    node = target.get_node()
                    feeds |= node.get_type_name() == "MatMul"
                    if node.get_type_name() in ("Convert", "Subtract", "Multiply", "Reshape", "Transpose"):
                        todo.append(node)
        if feeds:
            widest = max(widest, int(np.abs(op.get_data().astype(np.int16)).max()))
    return widest


def test_openvino_int8_is_calibrated_on_validation_sentences_and_keeps_macro_f1_within_half_a_point(smoke, torch_model,
                                                                                                     torch_proba):
    """`openvino-int8` quantises the cached fp32 export with NNCF, calibrated on the validation split (never the
    test split it is scored on): really int8 (the IR holds FakeQuantize nodes and the probabilities move), every
    MatMul's weights in 7 bits (no product saturates on a CPU without VNNI), within 0.5 macro-F1 points of torch
    on each task; the calibration is part of the cache key."""
    from mtst.export import load_backend
    from mtst.export.backend import cache_root, calibration_for
    from mtst.export.openvino_int8 import CALIBRATION_SENTENCES

    calibration = calibration_for(["openvino-int8"], smoke["splits"], TASKS)
    validation = {t: load_split(smoke["splits"], t, "validation")["text"].tolist() for t in TASKS}
    share = CALIBRATION_SENTENCES // len(TASKS)  # each task's first sentences, as many as its split has
    assert calibration == validation["task_a"][:share] + validation["task_b"][:share]
    assert calibration_for(["torch", "onnx-int8", "openvino-bf16"], smoke["splits"], TASKS) is None
    with pytest.raises(ConfigError, match="openvino-int8 needs calibration sentences .* --calibration FILE"):
        load_backend(smoke["train"], "openvino-int8")

    model = load_backend(smoke["train"], "openvino-int8", calibration=calibration)
    folder = model.model_file.parent
    assert (model.backend, model.model_file.name) == ("openvino-int8", "model.xml")
    assert folder.parent == cache_root() and folder.name.endswith("-nncf-int8")
    assert model.quantisation["method"] == "nncf.quantize" and model.quantisation["calibration_sentences"] == len(calibration)
    assert b'type="FakeQuantize"' in model.model_file.read_bytes()  # really quantised: fp32 would pass trivially
    # 7-bit weights: a pair of u8 x s8 products, 2 x 255 x 64, fits the 16-bit intermediate of a CPU without VNNI
    assert model.quantisation["overflow_fix"] == "enable" and 32 < _largest_matmul_weight(model.model_file) <= 64
    for task, (change, difference) in _against_torch(smoke, torch_model, torch_proba, model).items():
        assert 0 < difference < 0.05, f"{task}: probabilities differ by {difference:.1e}"
        assert change >= -0.5, f"{task}: openvino-int8 loses {-change:.2f} macro-F1 points"
    assert load_backend(smoke["train"] / "model", "openvino-int8", calibration=calibration).model_file == model.model_file
    assert load_backend(folder, "openvino-int8").backend == "openvino-int8"  # the export folder needs no calibration
    with pytest.raises(ModelNotFoundError, match="nncf-int8 export, for backend openvino-int8, not 'onnx'"):
        load_backend(folder, "onnx")
    other = load_backend(smoke["train"], "openvino-int8", calibration=calibration[:40])
    assert other.model_file.parent != folder and other.quantisation["calibration_sentences"] == 40


AVX2_CLASS = """
import json, sys
from mtst.cpu import has_bf16, instruction_sets
from mtst.data.datasets import load_split
from mtst.export import load_backend

args = json.loads(sys.argv[1])
bf16, int8 = load_backend(args["fp32"], "openvino-bf16"), load_backend(args["int8"], "openvino-int8")
predicted = {t: int8.predict_proba(load_split(args["splits"], t, "test")["text"].tolist(), batch_size=32)[t]
             .argmax(1).tolist() for t in args["tasks"]}
print(json.dumps({"instruction_sets": instruction_sets(), "has_bf16": has_bf16(), "bf16": [bf16.backend, bf16.precision],
                  "kernels": int8.int8_kernels(), "predicted": predicted}))
"""


def test_the_avx2_class_runs_bf16_as_fp32_and_int8_without_saturation(smoke, torch_model, torch_proba):
    """The AVX2-only class, on whatever CPU runs this (``mtst.cpu.CLASS_CAPS``: oneDNN capped at AVX2, as on a
    laptop without AVX-512 or VNNI): ``openvino-bf16`` is the ``openvino`` backend in fp32; ``openvino-int8``
    runs oneDNN's kernels without VNNI (16-bit intermediates) and, with its 7-bit weights, stays within 0.5
    macro-F1 points of torch on each task."""
    from mtst.cpu import CLASS_CAPS
    from mtst.export import load_backend
    from mtst.export.backend import calibration_for

    int8 = load_backend(smoke["train"], "openvino-int8", calibration=calibration_for(["openvino-int8"], smoke["splits"], TASKS))
    args = {"fp32": str(load_backend(smoke["train"], "onnx").model_file.parent),
            "int8": str(int8.model_file.parent), "splits": str(smoke["splits"]), "tasks": list(TASKS)}
    child = subprocess.run([sys.executable, "-c", AVX2_CLASS, json.dumps(args)], env={**os.environ, **CLASS_CAPS["avx2"]},
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen["instruction_sets"] == ["avx2"] and not seen["has_bf16"]
    assert seen["bf16"] == ["openvino", "f32"]
    assert seen["kernels"] and not any(isa in kernel for kernel in seen["kernels"] for isa in ("avx512", "amx", "vnni"))
    for task in TASKS:
        change = _change(smoke, torch_model, torch_proba, task, np.asarray(seen["predicted"][task]), "openvino-int8, AVX2")
        assert change >= -0.5, f"{task}: openvino-int8 loses {-change:.2f} macro-F1 points on the AVX2 class"


def test_export_format_openvino_writes_the_calibrated_int8_graph(smoke, tmp_path):
    """`mtst export --format openvino --int8 --calibration FILE`: an export folder `openvino-int8` runs; the
    options that make no sense together fail with exit 2 and write nothing."""
    from mtst.cli import app
    from mtst.export import load_backend

    sentences = tmp_path / "calibration.txt"
    sentences.write_text("\n".join(load_split(smoke["splits"], "task_b", "validation")["text"].tolist()[:64]))
    out = tmp_path / "ov-int8"
    result = runner.invoke(app, ["export", "--format", "openvino", "--int8", "--calibration", str(sentences),
                                 "--model", str(smoke["train"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["backend"] == "openvino-int8" and summary["quantisation"]["calibration_sentences"] == 64
    assert 0 < summary["parity"]["int8_max_abs_diff"]["probabilities"] < 0.05
    model = load_backend(out, "openvino-int8")
    texts = smoke["test"]["task_a"]["text"].tolist()[:8]
    assert {t: p.shape for t, p in model.predict_proba(texts).items()} == {"task_a": (8, 5), "task_b": (8, 3)}
    assert model.size()["parameters"] == load_backend(smoke["train"], "onnx").size()["parameters"]
    (out / "model.bin").unlink()  # an IR without its weights: named, before OpenVINO fails on it
    with pytest.raises(ModelNotFoundError, match="incomplete \\(missing model.bin\\)"):
        load_backend(out, "openvino-int8")
    for args, hint in ((["--format", "openvino"], "openvino is the int8 format (give --int8 and --calibration"),
                       (["--format", "openvino", "--int8"], "openvino is the int8 format (give --int8 and --calibration"),
                       (["--format", "onnx", "--calibration", str(sentences)], "--calibration is for --format openvino")):
        result = runner.invoke(app, ["export", *args, "--model", str(smoke["train"]), "--out", str(tmp_path / "no")])
        assert result.exit_code == 2 and hint in " ".join(result.output.replace("│", " ").split()), result.output
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    result = runner.invoke(app, ["export", "--format", "openvino", "--int8", "--calibration", str(empty),
                                 "--model", str(smoke["train"]), "--out", str(tmp_path / "no")])
    assert result.exit_code != 0 and "empty.txt" in result.output
    assert not (tmp_path / "no").exists()


def test_bad_backend_or_folder_fails_clearly_and_writes_nothing(smoke, fp32_export, tmp_path):
    from mtst.cli import app
    from mtst.export import load_backend

    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'"):
        load_backend(smoke["train"], "tensorrt")
    with pytest.raises(ModelNotFoundError, match="holds no saved mtst model"):
        load_backend(smoke["splits"], "onnx")
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        load_backend(tmp_path / "absent", "torch")
    for backend in ("onnx-int8", "torch"):  # an fp32 export answers for ONNX Runtime fp32 and OpenVINO only
        with pytest.raises(ModelNotFoundError, match=f"fp32 export, for backend onnx \\| openvino \\| "
                                                     f"openvino-bf16, not '{backend}'"):
            load_backend(fp32_export[0], backend)
    int8_export = load_backend(smoke["train"], "onnx-int8").model_file.parent
    with pytest.raises(ModelNotFoundError, match="int8 export, for backend onnx-int8, not 'openvino'"):
        load_backend(int8_export, "openvino")  # OpenVINO cannot run ONNX Runtime's quantised operators

    result = runner.invoke(app, ["export", "--model", str(tmp_path / "absent"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no such folder" in result.output
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["export", "--format", "tflite", "--model", str(smoke["train"]),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "tflite" in result.output and not (tmp_path / "out").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["export", "--model", str(smoke["train"]), "--out", str(mine)])
    assert result.exit_code == 2 and "refusing" in result.output
    assert os.listdir(mine) == ["notes.txt"]


def test_predict_and_the_pyfunc_run_on_the_onnx_backends(smoke, torch_model, tmp_path):
    """`mtst predict --backend onnx` and `--backend openvino` answer like torch (probabilities within 1e-4); a
    pyfunc logged with backend onnx-int8 (or openvino-int8, from the calibrated model) ships that export, names
    its backend, and serves that graph's answers."""
    import mlflow

    from mtst.cli import app
    from mtst.export import load_backend
    from mtst.export.backend import calibration_for
    from mtst.serving import log_pyfunc, predict_frame

    texts = smoke["test"]["task_b"]["text"].tolist()[:12]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    rows = {}
    for backend in ("torch", "onnx", "openvino"):
        out = tmp_path / f"{backend}.jsonl"
        result = runner.invoke(app, ["predict", "-i", str(source), "-o", str(out), "-m", str(smoke["train"]),
                                     "--backend", backend])
        assert result.exit_code == 0, result.output
        rows[backend] = [json.loads(line) for line in out.read_text().splitlines()]
    for backend in ("onnx", "openvino"):
        for a, b in zip(rows["torch"], rows[backend], strict=True):
            for task in TASKS:
                pa, pb = a[task]["probabilities"], b[task]["probabilities"]
                assert max(abs(pa[k] - pb[k]) for k in pa) <= 1e-4
    bad = runner.invoke(app, ["predict", "-i", str(source), "-o", str(tmp_path / "x.jsonl"), "-m",
                              str(smoke["train"]), "--backend", "tensorrt"])
    assert bad.exit_code == 2 and "unknown backend 'tensorrt'" in bad.output

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("onnx", artifact_location=(tmp_path / "artifacts").as_uri())
        calibrated = load_backend(smoke["train"], "openvino-int8",
                                  calibration=calibration_for(["openvino-int8"], smoke["splits"], TASKS))
        with mlflow.start_run(experiment_id=experiment):
            info = log_pyfunc(smoke["train"] / "model", torch_model, texts[:2], backend="onnx-int8")
            ov_info = log_pyfunc(smoke["train"] / "model", calibrated, texts[:2], name="model-ov", backend="openvino-int8")
        served = mlflow.pyfunc.load_model(info.model_uri)
        ov_served = mlflow.pyfunc.load_model(ov_info.model_uri)
    finally:
        mlflow.set_tracking_uri(previous)
    assert served.model_config == {"backend": "onnx-int8"} and ov_served.model_config == {"backend": "openvino-int8"}
    for model, pyfunc in ((load_backend(smoke["train"], "onnx-int8"), served), (calibrated, ov_served)):
        frame = pyfunc.predict(__import__("pandas").DataFrame({"text": texts}))
        expected = predict_frame(model, texts)  # the logged artifact is the very graph measured here
        assert list(frame.columns) == list(expected.columns)
        assert np.abs(frame.filter(like="_proba_").to_numpy() - expected.filter(like="_proba_").to_numpy()).max() <= 1e-6


def test_evaluate_scores_times_and_sizes_the_backend_that_ran(smoke, tmp_path):
    """`evaluate.backend: onnx-int8` (and `openvino-int8`, calibrated on the splits' validation sentences)
    scores, times and sizes the int8 graph: its predictions are that graph's (not torch's), its size the
    export's on disk, no torch-only memory figure; `openvino-bf16` on a CPU without bf16 is recorded as the
    `openvino` it ran as. (Each backend's loss against torch: the tests above, on 4,000 test sentences; here 200
    rows a task keep four evaluations cheap.)"""
    import shutil

    from mtst.config import EvaluateParams
    from mtst.contracts.evaluation import EvaluationReport, VariantInfo
    from mtst.cpu import has_bf16
    from mtst.data.datasets import split_path
    from mtst.steps import evaluate

    splits = tmp_path / "splits"
    shutil.copytree(smoke["splits"], splits)
    for task in TASKS:
        path = split_path(splits, task, "test")
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:200]))
    common = {"throughput_sentences": 16, "throughput_repeats": 1}
    backends = ("torch", "onnx-int8", "openvino-int8", "openvino-bf16")
    results = {backend: evaluate.run(EvaluateParams(backend=backend, **common), smoke["train"], splits, tmp_path / backend)
               for backend in backends}
    ran = {backend: VariantInfo.read(tmp_path / backend / "variant.json").backend for backend in backends}
    assert ran == {**{b: b for b in backends}, "openvino-bf16": "openvino-bf16" if has_bf16() else "openvino"}
    for backend in ("onnx-int8", "openvino-int8"):
        for task in TASKS:  # the evaluation's own predictions: the int8 graph's, not torch's
            proba = {b: np.array([row["proba"] for row in map(json.loads, (tmp_path / b / "predictions" / f"{task}.jsonl")
                                                             .read_text().splitlines())]) for b in ("torch", backend)}
            assert 1e-4 < np.abs(proba[backend] - proba["torch"]).max() < 0.05, (backend, task)
        report = EvaluationReport.read(tmp_path / backend / "report.json")
        assert report.model.memory_mb is None and report.model.size_mb < results["torch"]["model.size_mb"]
        assert "model.memory_mb" not in results[backend]
    assert "model.memory_mb" in results["torch"]
