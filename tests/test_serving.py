"""The serving table's rule on constructed numbers (the fastest backend within the tolerance of torch on every
task, torch when none is), its rows, its MLflow metrics, the params that drive it, and what a pyfunc served by
each backend installs. The real table, over real smoke models with the four default backends, is checked in
tests/test_compare.py."""

from __future__ import annotations

import pytest
import yaml

from mtst.comparison.serving import Measured, choose, rows
from mtst.config import CompareParams, ConfigError, load_params
from mtst.contracts.comparison import Serving
from mtst.tracking.comparison import serving_metrics


def _m(rate_a: float, rate_b: float, f1_a: float, f1_b: float, size: float = 80.0) -> Measured:
    return Measured({"task_a": rate_a, "task_b": rate_b}, {"task_a": f1_a, "task_b": f1_b}, size)


TORCH = _m(160.0, 150.0, 0.850, 0.660, 87.0)


def test_the_fastest_backend_within_the_tolerance_serves():
    measured = {"torch": TORCH, "onnx": _m(190.0, 170.0, 0.850, 0.660), "onnx-int8": _m(400.0, 330.0, 0.847, 0.657, 23.0)}
    chosen, reason = choose(measured, 0.5)
    assert chosen == "onnx-int8"
    assert reason.startswith("it serves 2.20× torch's sentences/s (the slower task's) and loses at most 0.30 macro-F1")
    # one task beyond the tolerance rules a backend out, however fast: the next fastest within it serves
    measured["onnx-int8"] = _m(400.0, 330.0, 0.852, 0.652)
    chosen, reason = choose(measured, 0.5)
    assert chosen == "onnx" and "onnx-int8 loses 0.80 points on task_b: beyond the 0.5-point tolerance" in reason
    assert choose(measured, 1.0)[0] == "onnx-int8"  # a wider tolerance lets it in
    # a loss of exactly the tolerance is within it (whatever the float rounding)
    assert choose({"torch": TORCH, "onnx-int8": _m(400.0, 330.0, 0.845, 0.660)}, 0.5)[0] == "onnx-int8"


def test_torch_serves_when_no_other_backend_qualifies():
    slower = _m(150.0, 140.0, 0.850, 0.660)  # as good, but slower
    worse = _m(400.0, 330.0, 0.850, 0.640)   # fast, but 2 points lost on Task B
    chosen, reason = choose({"torch": TORCH, "onnx": slower, "onnx-int8": worse}, 0.5)
    assert chosen == "torch"
    assert reason == ("no other backend serves faster within the tolerance; onnx is not faster (onnx-int8 loses "
                      "2.00 points on task_b: beyond the 0.5-point tolerance)")
    assert choose({"torch": TORCH}, 0.5) == ("torch", "no other backend serves faster within the tolerance")
    # the slower task decides: faster on Task A but slower on Task B than torch does not serve both faster
    assert choose({"torch": TORCH, "onnx": _m(300.0, 120.0, 0.850, 0.660)}, 0.5)[0] == "torch"
    # a tie goes to the backend listed first
    assert choose({"torch": TORCH, "onnx": TORCH}, 0.5)[0] == "torch"


def test_rows_and_metrics_carry_the_numbers():
    measured = {"torch": TORCH, "onnx": _m(150.0, 140.0, 0.850, 0.660), "onnx-int8": _m(400.0, 330.0, 0.852, 0.640, 23.0)}
    table = {r.backend: r for r in rows(measured, 0.5, "torch")}
    assert list(table) == ["torch", "onnx", "onnx-int8"]
    int8 = table["onnx-int8"]
    assert int8.sentences_per_s == 330.0 and int8.ratio_to_torch == pytest.approx(330.0 / 150.0)
    assert int8.change_vs_torch == pytest.approx({"task_a": 0.2, "task_b": -2.0})
    assert not int8.within_tolerance and not int8.chosen and int8.size_mb == 23.0
    assert table["torch"].chosen and table["torch"].within_tolerance and table["onnx"].within_tolerance
    serving = Serving(variant="staged", split="test", test_rows={"task_a": 300, "task_b": 300}, batch_size=32,
                      tolerance=0.5, rows=list(table.values()), chosen="torch", reason="")
    metrics = {name: value for name, value, _ in serving_metrics(serving)}
    assert metrics["serving.onnx-int8.task_b.sentences_per_s"] == 330.0
    assert metrics["serving.onnx-int8.task_a.macro_f1"] == 0.852
    assert metrics["serving.torch.ratio_to_torch"] == 1.0 and metrics["serving.onnx-int8.size_mb"] == 23.0
    assert len(metrics) == 3 * 7


def test_params_name_the_backends_and_keep_torch(repo_root, tmp_path):
    assert CompareParams().serving_backends == ["torch", "onnx-int8", "openvino-bf16", "openvino-int8"]
    assert load_params(repo_root / "params.yaml").compare.serving_backends == CompareParams().serving_backends
    assert load_params(repo_root / "params.yaml").compare.serving_tolerance == 0.5
    assert CompareParams(serving_backends=[]).serving_backends == []
    raw = yaml.safe_load((repo_root / "params.yaml").read_text())
    for backends, message in ((["torch", "tensorrt"], "serving_backends.1"), (["onnx"], "lacks torch"),
                              (["torch", "onnx", "torch"], "lists a backend twice")):
        raw["compare"]["serving_backends"] = backends
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(ConfigError, match=message) as error:
            load_params(path)
        assert str(path) in str(error.value)


def test_a_served_pyfunc_requires_its_runtime_at_the_installed_version():
    """An MLflow model served by a backend lists the runtime that backend imports, pinned to what ran here
    (a pyfunc served by openvino-bf16 in an environment without OpenVINO would fail at load time)."""
    from importlib.metadata import version

    from mtst.backends import BACKENDS
    from mtst.serving import pip_requirements

    runtime = {"torch": None, "onnx": "onnxruntime", "onnx-int8": "onnxruntime", "openvino": "openvino",
               "openvino-bf16": "openvino", "openvino-int8": "openvino"}
    assert set(runtime) == set(BACKENDS)
    for backend, needed in runtime.items():
        pins = dict(line.split("==") for line in pip_requirements(backend))
        assert pins["torch"] == version("torch").split("+")[0] and pins["mlflow"] == version("mlflow")
        assert {"onnxruntime", "openvino"} & set(pins) == ({needed} if needed else set()), backend
        if needed:
            assert pins[needed] == version(needed)
