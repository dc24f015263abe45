"""`mtst serve`: a real MLServer process (the serving environment, no torch) serving a saved model over the Open
Inference Protocol on loopback ports: readiness, metadata with both tasks' labels, answers equal to `mtst predict`
with the same backend, concurrent requests merged by adaptive batching (seen in the Prometheus metrics), every
request limit refused with its own 4xx naming the field and the rule while the server keeps answering, and a
registered model whose files changed refused before anything is served. The model is the packaged encoder with
untrained heads: what is checked is what the server answers, not how well the model predicts."""

from __future__ import annotations

import http.client
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from helpers.serve import ServedModel, infer_body, require_serving_venv
from mtst.config import load_params
from mtst.serve.limits import SETTINGS
from mtst.serve.settings import limits, model_name

SENTENCES = ["Shares in the bank fell sharply after the results.", "What a lovely, lovely day!",
             "The striker scored twice in the second half.", "I did not like the film at all.",
             "Parliament votes on the budget next week, after a long and bitter debate between the parties about "
             "taxes, spending and the deficit that neither side expects to end soon."]
BATCH_TIME_MS = 50.0
"""A wider batching window than the default: concurrent test requests arrive over tens of milliseconds here."""


@pytest.fixture(scope="module")
def params_file(repo_root: Path, tmp_path_factory) -> Path:
    raw = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    raw["serve"]["max_batch_time_ms"] = BATCH_TIME_MS
    path = tmp_path_factory.mktemp("serve-params") / "params.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dir(base_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("served") / "model"
    base_model.save(path)
    return path


@pytest.fixture(scope="module")
def server(model_dir: Path, params_file: Path, tmp_path_factory):
    require_serving_venv()
    served = ServedModel(tmp_path_factory.mktemp("serve"), str(model_dir), params_file).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def expected(model_dir: Path, tmp_path_factory) -> dict[str, dict]:
    """`mtst predict -m <the served folder> --backend onnx` of every sentence: text -> its record."""
    from mtst.cli import app

    root = tmp_path_factory.mktemp("predict")
    (root / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in SENTENCES))
    result = CliRunner().invoke(app, ["predict", "-m", str(model_dir), "--backend", "onnx",
                                      "-i", str(root / "in.jsonl"), "-o", str(root / "out.jsonl")])
    assert result.exit_code == 0, result.output
    return {row["text"]: row for row in map(json.loads, (root / "out.jsonl").read_text().splitlines())}


def _records(response: dict, labels: dict[str, list[str]]) -> list[dict]:
    """A v2 response → one ``{task: {"label", "probabilities"}}`` per row, as `mtst predict` writes them."""
    outputs = {o["name"]: o for o in response["outputs"]}
    rows = outputs["task_a_label"]["shape"][0]
    records: list[dict] = [{} for _ in range(rows)]
    for task, names in labels.items():
        probabilities = outputs[f"{task}_probabilities"]
        assert probabilities["datatype"] == "FP32" and probabilities["shape"] == [rows, len(names)]
        assert outputs[f"{task}_label"]["datatype"] == "BYTES"
        for i in range(rows):
            values = probabilities["data"][i * len(names):(i + 1) * len(names)]
            records[i][task] = {"label": outputs[f"{task}_label"]["data"][i], "probabilities": dict(zip(names, values))}
    return records


def _assert_same(record: dict, row: dict) -> None:
    for task in ("task_a", "task_b"):
        assert record[task]["label"] == row[task]["label"]
        assert record[task]["probabilities"].keys() == row[task]["probabilities"].keys()
        for label, p in row[task]["probabilities"].items():
            assert record[task]["probabilities"][label] == pytest.approx(p, abs=1e-5)


def _labels(server: ServedModel) -> dict[str, list[str]]:
    import requests

    metadata = requests.get(f"{server.url}/v2/models/{server.name}", timeout=10).json()
    return {o["name"].removesuffix("_probabilities"): o["parameters"]["labels"]
            for o in metadata["outputs"] if o["name"].endswith("_probabilities")}


def _batch_rows(server: ServedModel) -> tuple[float, float]:
    """(model calls, calls of one text) from the ``mtst_batch_rows`` histogram."""
    text = server.metrics()
    count = float(re.search(r'^mtst_batch_rows_count\{[^}]*\} (\S+)$', text, re.M).group(1))
    single = float(re.search(r'^mtst_batch_rows_bucket\{[^}]*le="1\.0"[^}]*\} (\S+)$', text, re.M).group(1))
    return count, single


def test_ready_with_both_tasks_labels_in_the_metadata(server, base_model, params_file):
    import requests

    assert requests.get(f"{server.url}/v2/health/ready", timeout=10).status_code == 200
    assert server.name == model_name(load_params(params_file))
    assert _labels(server) == base_model.tasks
    metadata = requests.get(f"{server.url}/v2/models/{server.name}", timeout=10).json()
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert metadata["parameters"]["backend"] == "onnx"
    assert "curl -s " in server.log_tail() and f"/v2/models/{server.name}/infer" in server.log_tail()


def test_served_answers_equal_mtst_predict_with_the_same_backend(server, expected):
    response = server.infer(infer_body(SENTENCES))
    assert response.status_code == 200, response.text
    records = _records(response.json(), _labels(server))
    for text, record in zip(SENTENCES, records, strict=True):
        _assert_same(record, expected[text])
    # the shape MLServer's own codecs send, [n, 1], is one text per row too
    column = server.infer(infer_body(SENTENCES[:2], shape=[2, 1]))
    assert column.status_code == 200 and [r["task_a"]["label"] for r in _records(column.json(), _labels(server))] == \
        [expected[t]["task_a"]["label"] for t in SENTENCES[:2]]


def test_concurrent_requests_are_merged_into_batches(server, expected):
    """16 clients at once, every fourth sending a malformed request: the good ones share model calls, and each
    malformed one gets its own 422 without failing the requests it arrived with."""
    labels = _labels(server)
    calls_before, single_before = _batch_rows(server)
    clients, rounds = 16, 2
    barrier = threading.Barrier(clients)

    def client(i: int) -> list[tuple[str, dict]]:
        answers = []
        for r in range(rounds):
            barrier.wait()  # every client's request of a round leaves together
            text = SENTENCES[(i + r) % len(SENTENCES)]
            if i % 4 == 3:
                response = server.infer(infer_body([text, None]))
                assert response.status_code == 422 and "inputs[text].data[1]: is null" in response.text
                continue
            response = server.infer(infer_body([text]))
            assert response.status_code == 200, response.text
            answers.append((text, _records(response.json(), labels)[0]))
        return answers

    with ThreadPoolExecutor(clients) as pool:
        answers = [a for batch in pool.map(client, range(clients)) for a in batch]
    good = clients * rounds * 3 // 4
    assert len(answers) == good
    for text, record in answers:  # a text merged with others is answered as when it is alone
        _assert_same(record, expected[text])
    calls, single = _batch_rows(server)
    assert calls - calls_before < good, "every request ran alone: nothing was batched"
    assert calls - calls_before > single - single_before, "no model call held more than one request"
    assert "rest_server_request_duration_seconds_bucket" in server.metrics()  # the latency histogram


def _oversized_post(server: ServedModel, size: int, chunked: bool) -> tuple[int, dict]:
    """Start a POST of a ``size``-byte body and read the answer: with a Content-Length of ``size`` and no byte of
    the body sent, or chunked (no length to read off a header) and sent chunk by chunk until ``size`` is passed."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", f"/v2/models/{server.name}/infer")
    conn.putheader("Content-Type", "application/json")
    conn.putheader(*(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(size))))
    conn.endheaders()
    if chunked:
        chunk = b"x" * 65536
        for _ in range(size // len(chunk) + 1):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    response = conn.getresponse()
    status, body = response.status, json.loads(response.read())
    conn.close()
    return status, body


def test_every_limit_is_refused_with_its_rule_and_the_server_keeps_serving(server, params_file, expected):
    cap = limits(load_params(params_file))
    text = SENTENCES[0]
    cases = [  # (body, status, the field, the rule)
        (infer_body([text] * (cap.max_rows + 1)), 413, "inputs[text].shape", f"above the limit of {cap.max_rows}"),
        (infer_body([text, "x" * (cap.max_chars + 1)]), 413, "inputs[text].data[1]",
         f"{cap.max_chars + 1} characters, above the limit of {cap.max_chars}"),
        (infer_body([text, None]), 422, "inputs[text].data[1]", "is null"),
        (infer_body([text, ""]), 422, "inputs[text].data[1]", "is empty"),
        (infer_body(["  \n "]), 422, "inputs[text].data[0]", "is empty"),
        (infer_body([42]), 422, "inputs[text].data[0]", "is a number"),
        (infer_body([["nested"]]), 422, "inputs[text].data[0]", "is a list"),
        (infer_body([1.5], datatype="FP32"), 422, "inputs[text].datatype", "must be BYTES"),
        (infer_body([text], shape=[2]), 422, "inputs[text].data", "holds 1 values; the shape says 2"),
        (infer_body([text], shape=[1, 2]), 422, "inputs[text].shape", "must be [n] or [n, 1]"),
        (infer_body([], shape=[0]), 422, "inputs[text].shape", "at least one text"),
        (infer_body([text], data="just a string"), 422, "inputs[text].data", "must be a list"),
        (infer_body([text], name="sentence"), 422, "inputs", "exactly one tensor named 'text'"),
        ({"inputs": infer_body([text])["inputs"] * 2}, 422, "inputs", "exactly one tensor named 'text'"),
    ]
    calls_before, _ = _batch_rows(server)
    for body, status, field, rule in cases:
        response = server.infer(body)
        assert response.status_code == status, (field, rule, response.text)
        error = response.json()["error"]
        assert error.startswith(f"{field}: ") and rule in error, error
    for chunked in (False, True):  # refused before the body is read: the answer comes while it is unsent
        status, body = _oversized_post(server, cap.max_body_bytes + 1, chunked)
        assert status == 413 and body["error"].startswith("request body: "), body
        assert f"above the limit of {cap.max_body_bytes} bytes ({SETTINGS['max_body_bytes']})" in body["error"]
    assert server.infer(b"{not json").status_code == 422  # MLServer's own parser refuses what is not JSON
    assert _batch_rows(server)[0] == calls_before, "a refused request reached the model"
    # every refusal names the setting to change; and the server still answers, the same as before
    assert SETTINGS["max_rows"] in server.infer(cases[0][0]).json()["error"]
    assert SETTINGS["max_chars"] in server.infer(cases[1][0]).json()["error"]
    response = server.infer(infer_body([text]))
    assert response.status_code == 200
    _assert_same(_records(response.json(), _labels(server))[0], expected[text])
    assert server.proc.poll() is None


def test_a_registered_model_whose_files_changed_is_not_served(base_model, params_file, tmp_path_factory, monkeypatch):
    from test_model_digest import CHAMPION, NAME, Store

    from mtst.serve.launch import prepare
    from mtst.serve.settings import MODEL_SETTINGS_FILE

    require_serving_venv()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path_factory.mktemp("serve-registered")
    store = Store(root / "store", base_model)
    params = load_params(params_file)
    params = params.model_copy(update={"tracking": store.params})
    prepared = prepare(CHAMPION, params, root / "good")  # untampered: the version's verified files, ready to serve
    settings = json.loads((root / "good" / model_name(params) / MODEL_SETTINGS_FILE).read_text())
    assert prepared.model == f"models:/{NAME}/{store.version}" and settings["parameters"]["version"] == store.version
    assert (root / "good" / "registered" / "MLmodel").is_file() and (prepared.export / "mtst_onnx.json").is_file()

    code = store.files / "pyfunc_model.py"
    code.write_text(code.read_text() + "\n# changed after registration\n")
    served = ServedModel(root / "tampered", CHAMPION, params_file, env={"MLFLOW_TRACKING_URI": store.uri})
    with pytest.raises(RuntimeError, match="exited with 2") as error:
        served.start(timeout=120)
    assert "files are not the ones registered" in str(error.value) and "Traceback" not in str(error.value)
    assert not (root / "tampered" / "serving").exists()  # nothing written, nothing served


def test_bad_options_and_a_missing_serving_environment_stop_before_any_work(model_dir, tmp_path):
    from mtst.cli import app

    runner = CliRunner()
    out = tmp_path / "serving"
    for options, message in ((["--backend", "torch"], "backend 'torch' runs the torch model; serving runs an export"),
                             (["--port", "70000"], "--port: Input should be less than or equal to 65535")):
        result = runner.invoke(app, ["serve", "--model", str(model_dir), "--out", str(out), *options])
        assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr
    result = runner.invoke(app, ["serve", "--model", str(model_dir), "--out", str(out)],
                           env={"MTST_SERVING_VENV": str(tmp_path / "no-venv")})
    assert result.exit_code == 2 and "make it with `make serving-setup`" in result.stderr
    assert not out.exists()
