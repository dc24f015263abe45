"""KServe resources checked against KServe's own CRD schemas (the release's ``openAPIV3Schema``, vendored in
infra/k8s/crds by vendor_kserve.py), as the API server would check them on ``kubectl apply``.

A CRD schema alone accepts unknown fields: the API server prunes them (drops them silently), or refuses them
under strict field validation (kubectl's default, ``--validate=strict``). KServe's schemas mark nothing but
``status`` with ``x-kubernetes-preserve-unknown-fields``, so :func:`strict` closes every other object
(``additionalProperties: false``): a misspelt field fails here instead of vanishing on the cluster. Lists
typed ``x-kubernetes-list-type: map`` / ``set`` must have unique keys / items, as the API server requires.
``metadata`` (``type: object`` in a CRD) is Kubernetes' ObjectMeta: checked with kubernetes_validate.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRDS = Path(__file__).resolve().parents[2] / "infra" / "k8s" / "crds"
K8S_VERSION = "1.37.0"  # the Kubernetes release every manifest is validated against (tests/test_infra.py too)
SCHEMA_FILES = {("serving.kserve.io/v1beta1", "InferenceService"): "kserve-inferenceservice.schema.yaml",
                ("serving.kserve.io/v1alpha1", "ServingRuntime"): "kserve-servingruntime.schema.yaml"}
HEADER = re.compile(r"^# schema sha256 \(canonical JSON\): ([0-9a-f]{64})$", re.M)


def canonical_sha256(schema: dict) -> str:
    """As infra/k8s/crds/vendor_kserve.py computes it for the header."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@cache
def vendored(api_version: str, kind: str) -> tuple[dict, str]:
    """``(schema, header)`` of the vendored schema for ``apiVersion`` + ``kind``; KeyError for any other."""
    text = (CRDS / SCHEMA_FILES[(api_version, kind)]).read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    return yaml.load(text, Loader=yaml.CSafeLoader), header


def strict(node: dict) -> dict:
    """The schema with every object closed to unknown fields, except where the CRD preserves them."""
    node = dict(node)
    if "properties" in node:
        node["properties"] = {name: strict(sub) for name, sub in node["properties"].items()}
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = strict(node["additionalProperties"])
    if isinstance(node.get("items"), dict):
        node["items"] = strict(node["items"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in node:
            node[key] = [strict(sub) for sub in node[key]]
    return node


def _list_type(validator, list_type, instance, schema):
    """Kubernetes' list semantics: a ``map`` list's items are unique by their keys, a ``set``'s by value."""
    if not isinstance(instance, list):
        return
    if list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen = [tuple(item.get(k) for k in keys) for item in instance if isinstance(item, dict)]
    elif list_type == "set":
        seen = [json.dumps(item, sort_keys=True) for item in instance]
    else:
        return
    for duplicate in {s for s in seen if seen.count(s) > 1}:
        yield jsonschema.ValidationError(f"duplicate entry {duplicate} in a list of type {list_type}")


Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {"x-kubernetes-list-type": _list_type})


@cache
def _validator(api_version: str, kind: str, closed: bool) -> jsonschema.protocols.Validator:
    schema, _ = vendored(api_version, kind)
    return Validator(strict(schema) if closed else schema)


def validate(doc: dict[str, Any], closed: bool = True) -> None:
    """Raise ``jsonschema.ValidationError`` (or kubernetes_validate's, for metadata) where ``doc`` breaks its
    CRD's schema; KeyError for a kind / apiVersion that KServe's CRDs do not define. ``closed=False``: the bare
    CRD schema, which lets unknown fields through (what pruning would silently drop)."""
    _validator(doc["apiVersion"], doc["kind"], closed).validate(doc)
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]},
                                 K8S_VERSION, strict=True)


# The fields of a predictor's ``model`` that choose the model and runtime; the rest override the runtime's container.
MODEL_SELECTION = {"runtime", "modelFormat", "protocolVersion", "storageUri", "storage", "runtimeVersion"}
# Pod-level fields of a predictor (KServe copies them into the pod); the rest configure the component.
COMPONENT_FIELDS = {"minReplicas", "maxReplicas", "scaleMetric", "scaleMetricType", "scaleTarget", "timeout",
                    "containerConcurrency", "canaryTrafficPercent", "autoScaling", "batcher", "logger", "labels",
                    "annotations", "deploymentStrategy", "model", "storageUris", "workerSpec"}


def serving_pod(isvc: dict, runtime: dict) -> dict:
    """The predictor's pod as KServe composes it: the runtime's containers and volumes, the predictor's pod
    fields, and the ``model`` section's container fields (resources, ...) over the runtime's kserve-container.
    (KServe then adds the storage initializer and Knative its queue-proxy.)"""
    predictor = isvc["spec"]["predictor"]
    model = {k: v for k, v in predictor["model"].items() if k not in MODEL_SELECTION}
    containers = [dict(c, **model) if c["name"] == "kserve-container" else c for c in runtime["spec"]["containers"]]
    pod = {k: v for k, v in predictor.items() if k not in COMPONENT_FIELDS}
    return {**pod, "containers": containers, "volumes": runtime["spec"].get("volumes", []) + pod.get("volumes", [])}
