"""infra/: the Dockerfiles pass hadolint; the Kubernetes manifests build with kustomize (kubectl's) and every
resource validates against the Kubernetes JSON schemas (strict: unknown fields fail), offline."""

from __future__ import annotations

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


@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(K8S)) or "k8s")
def test_kustomization_lists_every_manifest(folder):
    listed = set(yaml.safe_load((folder / "kustomization.yaml").read_text()).get("resources", []))
    present = {p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"}
    present |= {p.name for p in folder.iterdir() if (p / "kustomization.yaml").exists()}
    assert listed == present


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
