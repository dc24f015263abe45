"""infra/: the Dockerfiles pass hadolint; the Kubernetes manifests build with kustomize (kubectl's) and every
resource validates against the Kubernetes JSON schemas (strict: unknown fields fail), offline. The training
jobs (infra/k8s/training: PyTorchJob, Trainer v2 TrainingRuntime + TrainJob) validate against the Kubeflow
SDKs' models, generated from the CRDs' OpenAPI schemas, with their pod templates against Kubernetes'."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "infra" / "k8s"
BIN = Path(sys.executable).parent
K8S_VERSION = "1.37.0"


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (it comes with the dev extra: pip install -e '.[dev]')")
    return str(path)


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cpu", "Dockerfile.mlflow"])
def test_hadolint_clean(dockerfile):
    proc = subprocess.run([tool("hadolint"), "--no-color", "--failure-threshold", "style", str(ROOT / "infra" / dockerfile)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cpu", "Dockerfile.mlflow"])
def test_dockerfiles_pinned_and_non_root(dockerfile):
    text = (ROOT / "infra" / dockerfile).read_text()
    for line in text.splitlines():
        if line.startswith("FROM "):
            image = line.split()[1]
            assert ":" in image and not image.endswith(":latest"), line
    assert "\nUSER 10001\n" in text  # non-root from here on
    if dockerfile != "Dockerfile.mlflow":
        assert "-r requirements.lock" in text and "pip install --no-cache-dir --no-deps ." in text
    copied = [line.split()[1] for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line]
    ignore = (ROOT / ".dockerignore").read_text()
    for path in copied:
        assert f"!{path.rstrip('/')}" in ignore or f"!{path}" in ignore, f"{path} is excluded by .dockerignore"


def kustomize(path: Path) -> list[dict]:
    proc = subprocess.run([tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def kustomizations() -> list[Path]:
    return sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


# Training jobs are applied on their own (`kubectl apply -k infra/k8s/training`), not with the folder above.
STANDALONE = {K8S / "training", K8S / "training" / "trainer-v2"}


@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(K8S)) or "k8s")
def test_kustomization_lists_every_manifest(folder):
    resources = yaml.safe_load((folder / "kustomization.yaml").read_text()).get("resources", [])
    listed = {r for r in resources if "/" not in r}
    present = {p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"}
    present |= {p.name for p in folder.iterdir() if (p / "kustomization.yaml").exists() and p not in STANDALONE}
    assert listed == present
    for shared in (r for r in resources if "/" in r):  # e.g. ../data: a kustomization folder, not a loose file
        assert (folder / shared / "kustomization.yaml").is_file(), shared


def test_manifests_validate_against_kubernetes_schemas():
    docs = kustomize(K8S)
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "mlflow"), ("Service", "mlflow"), ("StatefulSet", "mlflow-postgres"),
            ("Service", "mlflow-postgres"), ("Deployment", "mlflow-minio"), ("Service", "mlflow-minio"),
            ("PersistentVolumeClaim", "mlflow-minio"), ("Job", "mlflow-minio-bucket"),
            ("Secret", "mlflow-postgres"), ("Secret", "mlflow-minio"),
            ("ConfigMap", "mtst-mlflow"), ("Secret", "mtst-mlflow-credentials")} <= kinds
    postgres = next(d for d in docs if d["kind"] == "StatefulSet")
    assert postgres["spec"]["volumeClaimTemplates"]  # the database lives on a PVC


def test_strict_validation_catches_mistakes():
    deployment = next(d for d in kustomize(K8S) if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_credentials_come_from_secrets_and_are_placeholders():
    from mtst.kfp import settings

    docs = kustomize(K8S)
    for secret in (d for d in docs if d["kind"] == "Secret"):
        for key, value in secret["stringData"].items():
            if key not in ("POSTGRES_USER", "POSTGRES_DB"):
                assert value.startswith("change-me"), (secret["metadata"]["name"], key)
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert ":" in container["image"] and not container["image"].endswith(":latest")
            for env in container.get("env", []):  # no literal credential values
                if any(word in env["name"] for word in ("PASSWORD", "SECRET", "USER", "KEY")):
                    assert "valueFrom" in env, env
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == settings.MLFLOW_CONFIG_MAP)
    assert set(config["data"]) == set(settings.MLFLOW_CONFIG_MAP_KEYS)
    assert config["data"]["MLFLOW_TRACKING_URI"].startswith("http://mlflow.mtst-mlflow.svc")
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == settings.MLFLOW_SECRET)
    assert set(secret["stringData"]) == set(settings.MLFLOW_SECRET_KEYS)
    # the task-side objects sit in one namespace, the MLflow stack in its own
    assert config["metadata"]["namespace"] == secret["metadata"]["namespace"] != "mtst-mlflow"


# --- the training jobs (infra/k8s/training): Kubeflow CRD schemas + Kubernetes schemas ----------------------
TRAINING = K8S / "training"


def _lost(original, back, path="") -> list[str]:
    """Where ``back`` (a model round trip) differs from ``original``: dropped fields, changed values or types."""
    if isinstance(original, dict) and isinstance(back, dict):
        return [p for key in original.keys() | back.keys()
                for p in _lost(original.get(key), back.get(key), f"{path}.{key}")]
    if isinstance(original, list) and isinstance(back, list) and len(original) == len(back):
        return [p for i, (a, b) in enumerate(zip(original, back)) for p in _lost(a, b, f"{path}[{i}]")]
    if original != back or type(original) is not type(back):
        return [f"{path}: {original!r} -> {back!r}"]
    return []


def validate_pytorchjob(doc: dict) -> None:
    """Deserialise with the Training Operator SDK's ApiClient into ``KubeflowOrgV1PyTorchJob`` (models generated
    from the CRD's OpenAPI schema; Kubernetes types from the kubernetes client) and serialise back: an unknown
    field is dropped, a value of the wrong type converted or refused, and either fails here. Then every pod
    template against the Kubernetes schema (strict)."""
    from kubeflow.training.api_client import ApiClient

    class Response:  # what ApiClient.deserialize reads: the JSON body of an API response
        data = json.dumps(doc)

    client = ApiClient()
    job = client.deserialize(Response(), "KubeflowOrgV1PyTorchJob")
    lost = _lost(doc, client.sanitize_for_serialization(job))
    assert not lost, f"PyTorchJob fields the kubeflow.org/v1 schema does not keep: {lost}"
    for role, replica in doc["spec"]["pytorchReplicaSpecs"].items():
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": role.lower()},
                                      "template": replica["template"]}, K8S_VERSION, strict=True)


def validate_trainer_v2(doc: dict) -> None:
    """The Kubeflow Trainer v2 API models (pydantic, generated from the CRDs' OpenAPI schema; strict types)
    round-trip the document unchanged; the runtime's Job templates validate against the Kubernetes schema."""
    from kubeflow_trainer_api import models

    model = {"TrainJob": models.TrainerV1alpha1TrainJob, "TrainingRuntime": models.TrainerV1alpha1TrainingRuntime}[doc["kind"]]
    lost = _lost(doc, model.from_dict(doc).to_dict())
    assert not lost, f"{doc['kind']} fields the trainer.kubeflow.org/v1alpha1 schema does not keep: {lost}"
    if doc["kind"] == "TrainingRuntime":
        for job in doc["spec"]["template"]["spec"]["replicatedJobs"]:
            kubernetes_validate.validate({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job["name"]},
                                          **{k: v for k, v in job["template"].items() if k != "metadata"}},
                                         K8S_VERSION, strict=True)
    else:
        trainer = doc["spec"]["trainer"]
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "trainer"}, "spec": {
            "containers": [{"name": "node", "image": "x:1", "command": trainer["command"], "args": trainer["args"],
                            "resources": trainer["resourcesPerNode"]}]}}, K8S_VERSION, strict=True)


def validate_any(doc: dict) -> None:
    if doc["apiVersion"] == "kubeflow.org/v1":
        validate_pytorchjob(doc)
    elif doc["apiVersion"] == "trainer.kubeflow.org/v1alpha1":
        validate_trainer_v2(doc)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.fixture(scope="module")
def training_docs() -> dict[str, list[dict]]:
    return {"v1": kustomize(TRAINING), "v2": kustomize(TRAINING / "trainer-v2")}


def _by_kind(docs: list[dict]) -> dict[str, dict]:
    return {d["kind"]: d for d in docs}


def test_training_jobs_validate_against_their_schemas(training_docs):
    for docs in training_docs.values():
        for doc in docs:
            validate_any(doc)
    assert set(_by_kind(training_docs["v1"])) == {"PersistentVolumeClaim", "Job", "PyTorchJob"}
    assert set(_by_kind(training_docs["v2"])) == {"PersistentVolumeClaim", "Job", "TrainingRuntime", "TrainJob"}


def test_training_job_schema_checks_catch_mistakes(training_docs):
    import copy

    import pydantic

    job = _by_kind(training_docs["v1"])["PyTorchJob"]
    for path, value, error in [
        (("spec", "nprocPerNod"), "2", AssertionError),                        # misspelled CRD field
        (("spec", "nprocPerNode"), 2, AssertionError),                         # int where the CRD has a string
        (("spec", "pytorchReplicaSpecs", "Worker", "replicas"), "two", ValueError),  # not an integer
        (("spec", "runPolicy", "cleanupPolicy"), "None", AssertionError),
        (("spec", "pytorchReplicaSpecs", "Master", "template", "spec", "restartPolicyy"), "Never", AssertionError),
    ]:
        bad = copy.deepcopy(job)
        node = bad
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(error):
            validate_pytorchjob(bad)
    bad = copy.deepcopy(job)  # a pod-level mistake the kubernetes client would keep: a container without a name
    del bad["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises((ValueError, kubernetes_validate.ValidationError)):
        validate_pytorchjob(bad)

    v2 = _by_kind(training_docs["v2"])
    for kind, path, value, error in [
        ("TrainJob", ("spec", "trainer", "numProcPerNode"), "2", pydantic.ValidationError),  # string for an int
        ("TrainJob", ("spec", "trainer", "numNode"), 2, AssertionError),
        ("TrainJob", ("spec", "runtimeRef", "name"), None, pydantic.ValidationError),          # required
        ("TrainingRuntime", ("spec", "mlPolicy", "torch", "numProcPerNode"), 2, AssertionError),  # not in 2.x
    ]:
        bad = copy.deepcopy(v2[kind])
        node = bad
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(error):
            validate_trainer_v2(bad)
    bad = copy.deepcopy(v2["TrainingRuntime"])
    pod = bad["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"][0]["mountpath"] = pod["containers"][0]["volumeMounts"][0].pop("mountPath")
    with pytest.raises((AssertionError, kubernetes_validate.ValidationError)):
        validate_trainer_v2(bad)


def test_training_jobs_run_mtst_train_on_the_shared_workspace(training_docs):
    """Same image and command as the pipeline's training task, MLflow settings from the pipeline's ConfigMap /
    Secret, GPUs per pod = processes per node, a PVC for data / checkpoints, restarts resume."""
    from mtst.cli import app
    from mtst.kfp import settings
    from typer.main import get_command

    train_cli = get_command(app).commands["train"]
    v1, v2 = _by_kind(training_docs["v1"]), _by_kind(training_docs["v2"])
    job = v1["PyTorchJob"]
    master, worker = (job["spec"]["pytorchReplicaSpecs"][r] for r in ("Master", "Worker"))
    assert master["template"] == worker["template"]  # every node runs the same pod
    assert master["replicas"] == 1 and worker["replicas"] >= 1
    assert master["restartPolicy"] == worker["restartPolicy"] == "OnFailure"
    pod = master["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "pytorch" and container["image"] == settings.DEFAULT_IMAGE
    assert container["resources"]["limits"]["nvidia.com/gpu"] == job["spec"]["nprocPerNode"]

    runtime, trainjob = v2["TrainingRuntime"], v2["TrainJob"]
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node" and node["template"]["metadata"]["labels"] == {
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
    v2_pod = node["template"]["spec"]["template"]["spec"]
    (v2_container,) = v2_pod["containers"]
    assert v2_container["name"] == "node" and v2_pod["restartPolicy"] == "OnFailure"
    assert trainjob["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime",
                                              "name": runtime["metadata"]["name"]}
    trainer = trainjob["spec"]["trainer"]
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == str(trainer["numProcPerNode"])
    # the v2 runtime's pod is the PyTorchJob's pod, less the command and the operator-specific container name
    same = {k: v for k, v in container.items() if k not in ("name", "command", "args")}
    assert {k: v for k, v in v2_container.items() if k != "name"} == same
    assert {k: v for k, v in v2_pod.items() if k not in ("containers", "restartPolicy")} == \
        {k: v for k, v in pod.items() if k != "containers"}
    assert (trainer["command"], trainer["args"]) == (container["command"], container["args"])

    for command, args in [(container["command"], container["args"]), (trainer["command"], trainer["args"])]:
        assert command == ["torchrun"] and args[:3] == ["-m", "mtst.cli", "train"]
        train_cli.make_context("train", args[3:])  # the real `mtst train` parser accepts the arguments
        assert "--resume" in args and args[args.index("--variant") + 1] == "staged"
        assert args[args.index("--checkpoints") + 1].startswith("artifacts/")  # relative to /workspace (the PVC)
    for pod_spec, main in [(pod, container), (v2_pod, v2_container)]:
        assert pod_spec["securityContext"]["runAsNonRoot"] is True
        assert main["workingDir"] == "/workspace"
        assert main["envFrom"] == [{"configMapRef": {"name": settings.MLFLOW_CONFIG_MAP}},
                                   {"secretRef": {"name": settings.MLFLOW_SECRET, "optional": True}}]
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        claim = volumes["workspace"]["persistentVolumeClaim"]["claimName"]
        assert {m["mountPath"]: m["name"] for m in main["volumeMounts"]}["/workspace"] == "workspace"
        assert pod_spec["initContainers"][0]["name"] == "wait-for-data"
        assert pod_spec["tolerations"] == [settings.GPU_TOLERATION]

    for docs in training_docs.values():
        kinds = _by_kind(docs)
        assert kinds["PersistentVolumeClaim"]["metadata"]["name"] == claim
        assert "ReadWriteMany" in kinds["PersistentVolumeClaim"]["spec"]["accessModes"]
        data_pod = kinds["Job"]["spec"]["template"]["spec"]
        assert data_pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim
        assert "touch artifacts/.data-ready" in data_pod["containers"][0]["args"][0]
        # the training pods run in the namespace of the pipeline's MLflow ConfigMap / Secret
        env_ns = yaml.safe_load((K8S / "pipeline-env" / "kustomization.yaml").read_text())["namespace"]
        assert {d["metadata"]["namespace"] for d in docs} == {env_ns}
