"""infra/k8s/serving: the champion served by KServe. The InferenceService and its ServingRuntime validate against
KServe's own CRD schemas (vendored in infra/k8s/crds, closed to unknown fields as the API server's strict field
validation is: tests/helpers/kserve.py), after `kubectl kustomize infra/k8s` from generated Secrets. The model
is read from MLflow's artifact bucket in MinIO with a read-only user; the pod is hardened the way KServe's
Knative mode allows (container-level securityContext, read-only root filesystem, writable paths on emptyDirs);
probes hit MLServer's v2 health endpoints; NetworkPolicies confine the pods to what they need."""

from __future__ import annotations

import copy
import json
import re
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mtst.config import load_params

from helpers import kserve
from test_infra import K8S, copy_without_secrets, kustomize

SERVING = K8S / "serving"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, list[dict]]:
    """`kubectl kustomize` of infra/k8s and of infra/k8s/serving after `infra/k8s/make-secrets.sh`, in a copy."""
    k8s = copy_without_secrets(tmp_path_factory.mktemp("k8s") / "k8s")
    subprocess.run(["bash", str(k8s / "make-secrets.sh"), str(k8s)], check=True, capture_output=True)
    return {"all": kustomize(k8s), "serving": kustomize(k8s / SERVING.name)}


@pytest.fixture(scope="module")
def stack(built) -> list[dict]:
    return built["all"]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"`kubectl kustomize infra/k8s` has {len(found)} {kind} {name or ''}, expected one"
    return found[0]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def artifact_destination(docs: list[dict]) -> str:
    """Where the MLflow server stores artifacts (``s3://BUCKET``): its --artifacts-destination."""
    server = one(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    (destination,) = [a.split("=", 1)[1] for a in server["args"] if a.startswith("--artifacts-destination=")]
    return destination


def test_vendored_schemas_are_kserves_release_unedited():
    """Each header names the release, its commit and the digest of the schema; the schema still has it."""
    commits = set()
    for (api_version, kind), _ in kserve.SCHEMA_FILES.items():
        schema, header = kserve.vendored(api_version, kind)
        assert f"KServe {kind} ({api_version})" in header
        commits |= set(re.findall(r"github\.com/kserve/kserve v\S+ \(commit ([0-9a-f]{40})\)", header))
        (recorded,) = kserve.HEADER.findall(header)
        assert kserve.canonical_sha256(schema) == recorded, f"{kind}: the vendored schema was edited"
        assert set(schema["properties"]) >= {"apiVersion", "kind", "metadata", "spec"}
    assert len(commits) == 1  # both from one release


def test_serving_manifests_validate_against_kserve_crds(built):
    serving = built["serving"]
    assert all(d in built["all"] for d in serving)  # part of `kubectl apply -k infra/k8s`
    assert {(d["kind"], d["metadata"]["name"]) for d in serving} == {
        ("InferenceService", "mtst-multitask"), ("ServingRuntime", "mtst-mlserver"), ("ServiceAccount", "mtst-serving"),
        ("Secret", "mtst-serving-s3"), ("NetworkPolicy", "mtst-serving")}
    for doc in serving:
        if doc["apiVersion"].startswith("serving.kserve.io/"):
            kserve.validate(doc)
        else:
            kubernetes_validate.validate(doc, kserve.K8S_VERSION, strict=True)


def _set(doc: dict, path: tuple, value) -> dict:
    bad = copy.deepcopy(doc)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return bad


def test_kserve_schema_check_catches_mistakes(stack):
    """Misspelt fields at every depth, wrong types, values outside an enum, missing required fields and
    duplicate list keys fail; the bare CRD schema would let a misspelt field through (the API server prunes it)."""
    isvc, runtime = one(stack, "InferenceService"), one(stack, "ServingRuntime")
    typo = _set(isvc, ("spec", "predictor", "minReplica"), 1)
    kserve.validate(typo, closed=False)  # the CRD schema as written: unknown fields pass (and would be dropped)
    mistakes = [  # (the mistake, what the error must say)
        (typo, "'minReplica' was unexpected"),
        (_set(isvc, ("spec", "predictor", "model", "storageURI"), "s3://x/y"), "'storageURI' was unexpected"),
        (_set(isvc, ("spec", "predictor", "scaleTarget"), "16"), "'16' is not of type 'integer'"),
        (_set(isvc, ("spec", "predictor", "scaleMetric"), "latency"), "'latency' is not one of"),
        (_set(isvc, ("spec", "predictor", "model", "resources", "limit"), {"cpu": "2"}), "'limit' was unexpected"),
        (_set(isvc, ("spec", "predictorr"), isvc["spec"]["predictor"]), "'predictorr' was unexpected"),
        (_set(runtime, ("spec", "containers", 0, "readinessprobe"), {}), "'readinessprobe' was unexpected"),
        (_set(runtime, ("spec", "containers", 0, "securityContext", "readOnlyRootFileSystem"), True),
         "'readOnlyRootFileSystem' was unexpected"),
        (_set(runtime, ("spec", "supportedModelFormats", 0, "autoselect"), True), "'autoselect' was unexpected"),
        (_set(runtime, ("spec", "containers", 0, "ports"), [{"containerPort": 8080}, {"containerPort": 8080}]),
         "duplicate entry"),
        (_set(runtime, ("spec", "containers"), [{"image": "mtst-serving"}]), "'name' is a required property"),
        (_set(isvc, ("apiVersion",), "serving.kserve.io/v1beta2"), "v1beta2"),  # no such version: KeyError
    ]
    for bad, message in mistakes:
        with pytest.raises((jsonschema.ValidationError, KeyError), match=re.escape(message)):
            kserve.validate(bad)
    with pytest.raises(kubernetes_validate.ValidationError):
        kserve.validate(_set(isvc, ("metadata", "anotations"), {}))


def test_inferenceservice_serves_the_registered_model_with_mlserver(stack):
    isvc, runtime = one(stack, "InferenceService"), one(stack, "ServingRuntime")
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert runtime["metadata"]["namespace"] == isvc["metadata"]["namespace"]
    formats = [(f["name"], f["version"]) for f in runtime["spec"]["supportedModelFormats"]]
    assert (model["modelFormat"]["name"], model["modelFormat"]["version"]) in formats
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"] == ["v2"]  # Open Inference Protocol
    # the registered version's artifacts (or a folder in them): <experiment>/models/<MLflow model id>/artifacts
    # in MLflow's bucket
    assert re.fullmatch(re.escape(artifact_destination(stack)) + r"/\d+/models/m-[0-9a-f]{32}/artifacts(/[^/]+)*",
                        model["storageUri"])
    # Knative mode: concurrency-based autoscaling (KServe's default mode, Standard, scales on CPU only)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert predictor["scaleMetric"] == "concurrency" and predictor["scaleTarget"] >= 1
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    assert "deploymentStrategy" not in predictor  # KServe refuses it in Knative mode
    (container,) = kserve.serving_pod(isvc, runtime)["containers"]
    resources = container["resources"]
    units = {"": 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

    def quantity(value: str) -> float:
        number, unit = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|)", str(value)).groups()
        return float(number) * units[unit]

    for name in ("cpu", "memory"):
        assert quantity(resources["requests"][name]) <= quantity(resources["limits"][name])
    # MLServer: starts on the downloaded folder, whose settings.json (params.yaml's serve section) sets the
    # ports: HTTP on the one port Knative routes to, the v2 health endpoints there, metrics where KServe's
    # Prometheus annotation says; the ports are not repeated in the environment, where settings.json would win
    assert container["command"] == ["mlserver", "start", "/mnt/models"]
    serve = load_params(K8S.parents[1] / "params.yaml").serve
    (port,) = container["ports"]
    assert port == {"name": "http1", "containerPort": serve.port, "protocol": "TCP"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": serve.port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": serve.port}
    assert runtime["spec"]["annotations"]["prometheus.kserve.io/port"] == str(serve.metrics_port)
    assert not [name for name in env_of(container) if name.endswith("_PORT") or name == "MLSERVER_HOST"]


def test_serving_pod_is_hardened(stack):
    """What Knative lets a Service set: no pod-level securityContext (refused unless the cluster enables
    kubernetes.podspec-securitycontext), so non-root, seccomp and the rest are on the container; every path
    MLServer writes is on an emptyDir; no API token; the image pinned by digest."""
    isvc, runtime = one(stack, "InferenceService"), one(stack, "ServingRuntime")
    pod = kserve.serving_pod(isvc, runtime)
    assert "securityContext" not in pod and pod["automountServiceAccountToken"] is False
    account = one(stack, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    version = re.search(r'^version = "(.+)"$', (K8S.parents[1] / "pyproject.toml").read_text(), re.M).group(1)
    image = container["image"]  # pinned by digest (infra/push.sh), tagged with the project's version as the others
    assert re.fullmatch(rf"mtst-serving:{re.escape(version)}@sha256:[0-9a-f]{{64}}", image), image
    assert container["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "allowPrivilegeEscalation": False,
        "privileged": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}}
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = [m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty_dirs]
    env = env_of(container)
    for var in ("MLSERVER_METRICS_DIR", "HOME"):
        assert any(env[var] == w or env[var].startswith(w.rstrip("/") + "/") for w in writable), (var, writable)


def test_model_is_read_with_a_read_only_bucket_user(stack):
    """The storage initializer's credentials: the ServiceAccount's Secret, KServe's S3 annotations pointing at
    the MinIO Service, a MinIO user that the bucket Job creates with a read-only policy on MLflow's bucket only,
    the same credentials on both sides, none of them the read-write user MLflow writes with."""
    isvc = one(stack, "InferenceService")
    account = one(stack, "ServiceAccount", isvc["spec"]["predictor"]["serviceAccountName"])
    (secret_ref,) = account["secrets"]
    secret = one(stack, "Secret", secret_ref["name"])
    assert secret["metadata"]["namespace"] == account["metadata"]["namespace"] == isvc["metadata"]["namespace"]
    minio = one(stack, "Service", "mlflow-minio")
    (s3_port,) = [p["port"] for p in minio["spec"]["ports"] if p["name"] == "s3"]
    annotations = secret["metadata"]["annotations"]
    assert annotations["serving.kserve.io/s3-endpoint"] == \
        f"{minio['metadata']['name']}.{minio['metadata']['namespace']}.svc.cluster.local:{s3_port}"
    server = one(stack, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    scheme = env_of(server)["MLFLOW_S3_ENDPOINT_URL"].split("://")[0]  # what MLflow itself uses in the cluster
    assert annotations["serving.kserve.io/s3-usehttps"] == {"http": "0", "https": "1"}[scheme]
    assert set(secret["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # KServe's default key names
    reader = one(stack, "Secret", "mlflow-minio-reader")
    assert reader["data"] == secret["data"] and reader["metadata"]["namespace"] == minio["metadata"]["namespace"]
    writer = one(stack, "Secret", "mlflow-minio-artifacts")
    assert reader["data"]["AWS_ACCESS_KEY_ID"] != writer["data"]["AWS_ACCESS_KEY_ID"]

    job = one(stack, "Job", "mlflow-minio-bucket")["spec"]["template"]["spec"]
    job_env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in job["containers"][0]["env"]}
    assert job_env["READER_ACCESS_KEY_ID"] == {"name": reader["metadata"]["name"], "key": "AWS_ACCESS_KEY_ID"}
    assert job_env["READER_SECRET_ACCESS_KEY"] == {"name": reader["metadata"]["name"], "key": "AWS_SECRET_ACCESS_KEY"}
    script = (K8S / "mlflow" / "bootstrap" / "minio-bucket.sh").read_text()
    assert re.search(r'admin user add store "\$READER_ACCESS_KEY_ID" "\$READER_SECRET_ACCESS_KEY"', script)
    (policy_file,) = re.findall(r"admin policy create store mlflow-artifacts-read (\S+)", script)
    assert re.search(r'admin policy attach store mlflow-artifacts-read --user "\$READER_ACCESS_KEY_ID"', script)
    policy = json.loads((K8S / "mlflow" / "bootstrap" / policy_file.rsplit("/", 1)[1]).read_text())
    bucket = artifact_destination(stack).removeprefix("s3://")
    granted = {(action, resource) for statement in policy["Statement"] if statement["Effect"] == "Allow"
               for action in statement["Action"] for resource in statement["Resource"]}
    assert granted == {("s3:GetBucketLocation", f"arn:aws:s3:::{bucket}"), ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
                       ("s3:GetObject", f"arn:aws:s3:::{bucket}/*")}


def test_network_policies_confine_the_serving_pods(stack):
    isvc = one(stack, "InferenceService")
    namespace = isvc["metadata"]["namespace"]
    assert namespace == yaml.safe_load((K8S / "pipeline-env" / "kustomization.yaml").read_text())["namespace"]
    serving_pods = {"serving.kserve.io/inferenceservice": isvc["metadata"]["name"]}  # the label KServe sets
    policy = one(stack, "NetworkPolicy", "mtst-serving")
    assert policy["metadata"]["namespace"] == namespace
    # only the serving pods: the namespace is the pipeline's, its other pods are not this policy's business
    assert policy["spec"]["podSelector"] == {"matchLabels": serving_pods}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["spec"]["ingress"]
    assert {p["port"] for p in ingress["ports"]} == {8012, 8013, 8112, 9090}  # Knative's queue-proxy
    assert {json.dumps(p, sort_keys=True) for p in ingress["from"]} == {json.dumps(p, sort_keys=True) for p in [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "knative-serving"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}},
        {"podSelector": {"matchLabels": {"pipelines.kubeflow.org/v2_component": "true"}}}]}
    minio = one(stack, "Deployment", "mlflow-minio")
    minio_ns, minio_labels = minio["metadata"]["namespace"], minio["spec"]["selector"]["matchLabels"]
    egress = {json.dumps(rule["to"], sort_keys=True): {(p["protocol"], p["port"]) for p in rule["ports"]}
              for rule in policy["spec"]["egress"]}
    assert egress == {
        json.dumps([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                     "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], sort_keys=True):
            {("UDP", 53), ("TCP", 53)},
        json.dumps([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": minio_ns}},
                     "podSelector": {"matchLabels": minio_labels}}], sort_keys=True): {("TCP", 9000)},
        json.dumps([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                     "podSelector": {"matchLabels": {"app": "istiod"}}}], sort_keys=True): {("TCP", 15012)}}
    # and MinIO's side lets exactly these pods in
    minio_policy = one(stack, "NetworkPolicy", "mlflow-minio")
    outside = [p for rule in minio_policy["spec"]["ingress"] for p in rule["from"] if "namespaceSelector" in p]
    assert outside == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                        "podSelector": {"matchLabels": serving_pods}}]
