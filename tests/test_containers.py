"""The project in containers, for real, on this machine (no image registry): the engine (Debian's dockerd,
`make engine`), the components' CPU image and the MLflow server's image built from infra/ (`make image`,
`make mlflow-image`; cached), the whole smoke pipeline run by `mtst kfp run-local --runner docker` with every
task in the image, logging over HTTP to the MLflow server image running with its basic-auth app, checked
against the DVC path's metrics (the session's `dvc repro` of the smoke profile) and in the MLflow UI with
headless Chromium; and a bad input file failing the containerised run."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from helpers.mlflow_server import free_port
from helpers.smoke import assert_same_metrics
from mtst import __version__
from mtst.config import read_params_dict
from mtst.kfp.containers import missing_outputs

ROOT = Path(__file__).resolve().parents[1]
MTST = str(Path(sys.executable).parent / "mtst")
IMAGE = f"mtst:{__version__}-cpu"
MLFLOW_IMAGE = "mtst-mlflow-server:3.17.2"
SERVING_IMAGE = f"mtst-serving:{__version__}"
BUILT = re.compile(r"built (?P<tag>\S+): (?P<mb>\d+) MB, (?P<s>\d+) s \((?P<steps>\d+) steps: (?P<ran>\d+) run, "
                   r"(?P<cached>\d+) from the cache\)")


def sh(*cmd: str, check: bool = True, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def build(what: str) -> dict:
    """infra/build.sh (what `make image` / `make mlflow-image` run): installs and starts the engine when
    needed, makes the base when none can be pulled, builds (cached); returns its report line."""
    proc = sh("bash", str(ROOT / "infra" / "build.sh"), what, cwd=ROOT, timeout=1800)
    match = BUILT.search(proc.stderr)
    assert match and proc.stdout.strip() == match["tag"], proc.stderr
    return {k: (v if k == "tag" else int(v)) for k, v in match.groupdict().items()}


@pytest.fixture(scope="module")
def images() -> dict[str, dict]:
    return {"mtst": build("mtst"), "mlflow": build("mlflow"), "serving": build("serving")}


def docker_run(image: str, *args: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return sh("docker", "run", "--rm", "--network", "none", *options, image, *args, check=False)


def test_image_runs_as_non_root_offline_with_its_data(images):
    assert images["mtst"]["tag"] == IMAGE
    help_run = docker_run(IMAGE)  # the default command: mtst --help
    assert help_run.returncode == 0 and "Usage: mtst" in help_run.stdout, help_run.stderr
    assert docker_run(IMAGE, "id", "-u").stdout.strip() == "10001"
    config = json.loads(sh("docker", "image", "inspect", IMAGE).stdout)[0]["Config"]
    assert config["User"] == "10001"
    # no network: torch is the CPU build, the pinned archives verify, WordNet reads (all baked in)
    probe = docker_run(IMAGE, "python", "-c", (
        "import torch, nltk; from mtst.data.sources import BBC_ARCHIVE, VADER_ARCHIVE, ensure_archive;"
        "[ensure_archive(a) for a in (BBC_ARCHIVE, VADER_ARCHIVE)];"
        "from nltk.corpus import wordnet; assert wordnet.synsets('good');"
        "print(torch.__version__, torch.cuda.is_available())"), options=("--read-only", "--tmpfs", "/tmp"))
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["2.13.0+cpu", "False"]
    # the MLflow server image: non-root too, and its basic-auth app is installed
    mlflow = docker_run(MLFLOW_IMAGE, "python", "-c", "import os, flask_wtf, mlflow; print(os.getuid(), mlflow.__version__)")
    assert mlflow.stdout.split() == ["10001", "3.17.2"], mlflow.stderr


def test_serving_image_answers_as_the_model_does(images, base_model, tmp_path):
    """infra/Dockerfile.serving's image (`make serving-image`: MLServer, no torch, non-root) started as KServe starts
    it (`mlserver start /mnt/models`, read-only root and model volume, no capabilities) on a folder mtst.serve
    writes, queried over the Open Inference Protocol: the same labels and probabilities as the export in .venv."""
    from mtst.config import load_params
    from mtst.export.backend import export_for, load_backend
    from mtst.serve import settings as serve_settings

    assert images["serving"]["tag"] == SERVING_IMAGE
    assert docker_run(SERVING_IMAGE, "id", "-u").stdout.strip() == "10001"
    assert docker_run(SERVING_IMAGE, "python", "-c", "import torch").returncode != 0  # the runtime needs no torch
    model = tmp_path / "model"
    base_model.save(model)
    folder = tmp_path / "models"
    shutil.copytree(export_for(model, "onnx"), folder / "export")
    params = load_params(ROOT / "params.yaml")
    port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    params = params.model_copy(update={"serve": params.serve.model_copy(update={
        "port": port, "grpc_port": grpc_port, "metrics_port": metrics_port})})
    serve_settings.write(folder, params, folder / "export")
    sh("chmod", "-R", "a+rX", str(folder))  # the server runs as uid 10001
    name = f"mtst-test-serving-{secrets.token_hex(4)}"
    sh("docker", "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
       "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-e", "HOME=/tmp", "-e", "MLSERVER_METRICS_DIR=/tmp",
       "-v", f"{folder}:/mnt/models:ro", SERVING_IMAGE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            running = sh("docker", "inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"
            if not running or time.monotonic() > deadline:
                pytest.fail(f"the serving container is not ready:\n{sh('docker', 'logs', name, check=False).stderr[-3000:]}")
            time.sleep(0.5)
        texts = ["Shares in the bank fell sharply after the results.", "What a lovely, lovely day!"]
        body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}
        answer = requests.post(f"{url}/v2/models/{serve_settings.model_name(params)}/infer", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        outputs = {o["name"]: o for o in answer.json()["outputs"]}
        expected = load_backend(model, "onnx").predict_proba(texts)
        for task, labels in base_model.tasks.items():
            proba = expected[task]
            assert outputs[f"{task}_label"]["data"] == [labels[i] for i in proba.argmax(axis=1)]
            assert outputs[f"{task}_probabilities"]["data"] == pytest.approx(proba.ravel().tolist(), abs=1e-5)
        refused = requests.post(f"{url}/v2/models/{serve_settings.model_name(params)}/infer", timeout=10,
                                json={"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [None]}]})
        assert refused.status_code == 422, refused.text  # the limits hold in the image too
    finally:
        sh("docker", "rm", "-f", name, check=False)


def test_second_build_comes_from_the_cache(images):
    first = json.loads(sh("docker", "image", "inspect", IMAGE).stdout)[0]["Id"]
    again = build("mtst")
    assert again["ran"] == 0 and again["cached"] > 15, again  # every step from the layer cache
    assert json.loads(sh("docker", "image", "inspect", IMAGE).stdout)[0]["Id"] == first  # nothing rebuilt
    assert again["s"] < 120, again


# --- the containerised smoke pipeline, logged to the MLflow server image over HTTP ------------------------------
class MlflowContainer:
    """infra/Dockerfile.mlflow's image running `mlflow server --app-name basic-auth` on a loopback port, its
    stores in a host folder; the pipeline's user created by the Kubernetes Job's own script."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = f"mtst-test-mlflow-{secrets.token_hex(4)}"
        self.admin = ("admin", secrets.token_urlsafe(16))
        self.user = ("mtst-pipeline", secrets.token_urlsafe(16))

    def start(self) -> MlflowContainer:
        data = self.root / "data"
        data.mkdir(parents=True)
        data.chmod(0o777)  # the server runs as uid 10001
        ini = (ROOT / "infra" / "k8s" / "mlflow" / "basic_auth.ini").read_text()
        (self.root / "basic_auth.ini").write_text(
            re.sub(r"(?m)^database_uri = .*$", "database_uri = sqlite:////data/basic_auth.db", ini))
        sh("docker", "run", "-d", "--name", self.name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
           "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
           "-v", f"{data}:/data", "-v", f"{self.root / 'basic_auth.ini'}:/etc/mlflow-auth/basic_auth.ini:ro",
           "-e", "MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow-auth/basic_auth.ini", "-e", "HOME=/tmp",
           "-e", f"MLFLOW_AUTH_ADMIN_USERNAME={self.admin[0]}", "-e", f"MLFLOW_AUTH_ADMIN_PASSWORD={self.admin[1]}",
           "-e", f"MLFLOW_FLASK_SERVER_SECRET_KEY={secrets.token_hex(16)}",
           MLFLOW_IMAGE, "mlflow", "server", "--app-name", "basic-auth", "--host", "127.0.0.1",
           "--port", str(self.port), "--workers", "1", "--backend-store-uri", "sqlite:////data/mlflow.db",
           "--serve-artifacts", "--artifacts-destination", "/data/artifacts")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if sh("docker", "inspect", "-f", "{{.State.Running}}", self.name).stdout.strip() != "true":
                pytest.fail(f"MLflow container exited:\n{self.logs()}")
            time.sleep(0.5)
        else:
            pytest.fail(f"MLflow container not healthy:\n{self.logs()}")
        # the Kubernetes Job's script creates the pipeline's user, in the same image
        sh("docker", "run", "--rm", "--network", "host", "--read-only",
           "-v", f"{ROOT / 'infra' / 'k8s' / 'mlflow' / 'bootstrap'}:/etc/mlflow-bootstrap:ro",
           "-e", f"MLFLOW_URL={self.url}", "-e", f"MLFLOW_AUTH_ADMIN_USERNAME={self.admin[0]}",
           "-e", f"MLFLOW_AUTH_ADMIN_PASSWORD={self.admin[1]}", "-e", f"MLFLOW_TRACKING_USERNAME={self.user[0]}",
           "-e", f"MLFLOW_TRACKING_PASSWORD={self.user[1]}",
           MLFLOW_IMAGE, "python", "/etc/mlflow-bootstrap/mlflow-pipeline-user.py")
        return self

    def logs(self) -> str:
        return sh("docker", "logs", "--tail", "40", self.name, check=False).stderr

    def stop(self) -> None:
        sh("docker", "rm", "-f", self.name, check=False)


@pytest.fixture()
def mlflow_container(tmp_path):
    server = MlflowContainer(tmp_path / "mlflow")
    try:
        yield server.start()
    finally:
        server.stop()


def smoke_params(folder: Path, **overrides: dict) -> Path:
    params = read_params_dict(ROOT / "params.yaml", "smoke")
    for section, values in overrides.items():
        params.setdefault(section, {}).update(values)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run_local(params: Path, root: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    proc = subprocess.run([MTST, "kfp", "run-local", "--params", str(params), "--variant", "frozen",
                           "--root", str(root), *extra], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1500)
    return proc, time.monotonic() - start


def run_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "MTST_PIPELINE"))}
    return {**env, "NLTK_DATA": str(ROOT / ".cache" / "nltk_data"), **values}


def printed_result(stdout: str) -> dict:
    """The JSON `mtst kfp run-local` prints last (kfp's task logs, indented, come before it)."""
    starts = [m.start() for m in re.finditer(r"(?m)^\{$", stdout)]
    assert starts, stdout[-2000:]
    return json.loads(stdout[starts[-1]:])


def metrics_of(result: dict) -> dict:
    return json.loads((Path(result["evaluations"]["frozen"]) / "metrics.json").read_text())


def test_containerised_smoke_pipeline(images, mlflow_container, dvc_smoke, tmp_path):
    from mlflow import MlflowClient

    params = smoke_params(tmp_path)
    # unauthenticated requests are refused: the server runs MLflow's basic-auth app
    assert requests.get(f"{mlflow_container.url}/api/2.0/mlflow/experiments/search",
                        params={"max_results": 1}, timeout=10).status_code == 401

    docker_env = run_env(MLFLOW_TRACKING_URI=mlflow_container.url, MLFLOW_TRACKING_USERNAME=mlflow_container.user[0],
                         MLFLOW_TRACKING_PASSWORD=mlflow_container.user[1])
    since = str(int(time.time()) - 1)
    proc, docker_s = run_local(params, tmp_path / "docker", docker_env, "--runner", "docker")
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}\n{mlflow_container.logs()}"
    # every task ran in a container of the image, and each exited 0 (the engine's own record)
    died = sh("docker", "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
              "label=mtst.kfp.local", "--filter", "event=die", "--format",
              "{{.Actor.Attributes.image}} {{.Actor.Attributes.exitCode}}").stdout.split("\n")
    died = [line for line in died if line]
    assert len(died) >= 7 and set(died) == {f"{IMAGE} 0"}, died
    docker_result = printed_result(proc.stdout)
    ours = metrics_of(docker_result)
    print(f"\nsmoke pipeline (frozen): docker runner {docker_s:.0f} s")
    # the same numbers as the DVC path (the session's `dvc repro` of the smoke profile), timings aside
    assert_same_metrics(ours, dvc_smoke.metrics["frozen"], "frozen")
    # every task's outputs came back to the host, written as this user (not root-owned files of uid 10001)
    run_dir = Path(docker_result["run_dir"])
    assert (run_dir / "data" / "executor_output.json").stat().st_uid == os.getuid()
    assert missing_outputs(run_dir) == []
    # the guard that catches a task misreported as successful (kfp #13332) sees outputs that are not there
    (run_dir / "augment" / "executor_output.json").unlink()
    shutil.rmtree(run_dir / "data" / "splits")
    assert missing_outputs(run_dir) == ["augment: no executor_output.json",
                                        f"data: output 'splits' ({run_dir / 'data' / 'splits'}) was not written"]

    # the runs are in the containerised server (the tasks had only the pipeline user's credentials) ...
    client = MlflowClient(mlflow_container.url)
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = mlflow_container.user
    try:
        experiment = client.get_experiment_by_name(read_params_dict(params)["tracking"]["experiment"])
        (child,) = client.search_runs([experiment.experiment_id], "tags.`mtst.role` = 'variant'")
        parent = client.get_run(child.data.tags["mlflow.parentRunId"])
        assert child.data.tags["mtst.variant"] == "frozen" and parent.info.status == "FINISHED"
        assert child.data.metrics["test.task_a.macro_f1"] == pytest.approx(ours["task_a.macro_f1"])
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "plots" in artifacts
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
        os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)

    # ... and headless Chromium finds them in the MLflow UI (as the pipeline's user)
    from helpers.browser import Chromium

    browser = Chromium()
    try:
        browser.call("Network.enable")
        token = base64.b64encode(":".join(mlflow_container.user).encode()).decode()
        browser.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Basic {token}"})
        browser.open(f"{mlflow_container.url}/#/experiments/{experiment.experiment_id}/runs")
        browser.wait_for_text(parent.info.run_name[:16], timeout=90)
        browser.wait_for_selector('button[data-component-id*="runnamecellrenderer"]', timeout=30)
        browser.click_all('button[data-component-id*="runnamecellrenderer"]')
        text = browser.wait_for_text("frozen", timeout=30)
        browser.screenshot(tmp_path / "mlflow-ui.png")
        assert "frozen" in text.split()
    finally:
        browser.close()


def test_bad_input_file_fails_the_containerised_run(images, tmp_path):
    """A component that fails in its container fails the run (exit 1, the task named), nothing after it runs."""
    root = tmp_path / "kfp"
    inputs = root / "inputs"  # under the pipeline root: the folder the containers see
    inputs.mkdir(parents=True)
    (inputs / "topics.csv").write_text("text,label\nShares fell sharply.,business\nA row without a label\n")
    params = smoke_params(tmp_path, data={"topic": {"path": str(inputs / "topics.csv")}})
    proc, _ = run_local(params, root, run_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}"),
                        "--runner", "docker")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    assert "topics.csv" in log and "row 3" in log  # the component's own error, from inside the container
    assert "error: " in proc.stderr and "data" in proc.stderr
    run_dirs = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("mtst-multitask")]
    assert run_dirs and not any((d / "validate").exists() for d in run_dirs)  # nothing ran after the failure
    assert sh("docker", "ps", "-aq", "--filter", "label=mtst.kfp.local").stdout.strip() == ""  # containers removed


def test_real_exit_code_of_a_short_lived_container(images):
    """The guard against kfp issue #13332: a container that fails at once reports its own exit code."""
    import docker

    from mtst.kfp.containers import run_container

    client = docker.from_env()
    try:
        codes = [run_container(client, IMAGE, ["sh", "-c", f"exit {code}"], {}, network_mode="none")
                 for code in (3, 0, 3)]
    finally:
        client.close()
    assert codes == [3, 0, 3]


def test_missing_image_or_engine_is_a_clear_error(images, tmp_path):
    params = smoke_params(tmp_path)
    proc, _ = run_local(params, tmp_path / "kfp", run_env(), "--runner", "docker", "--image", "mtst:no-such-tag")
    assert proc.returncode == 2 and "image 'mtst:no-such-tag' is not in the local engine: build it with `make image`" \
        in proc.stderr, proc.stderr
    proc, _ = run_local(params, tmp_path / "kfp", run_env(DOCKER_HOST=f"unix://{tmp_path / 'none.sock'}"),
                        "--runner", "docker")
    assert proc.returncode == 2 and "no container engine answers" in proc.stderr and "make engine" in proc.stderr
