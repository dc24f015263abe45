"""Vendor KServe's CRD schemas (the ``openAPIV3Schema`` of the storage version) that tests/test_kserve_manifests.py
validates infra/k8s/serving against, from a checkout of github.com/kserve/kserve at a release tag.

Only the schema is kept, whole, not the rest of the CustomResourceDefinition, and written in YAML's flow style
(JSON-like, wrapped): the InferenceService CRD is ~2 MB of block YAML (KServe's release CRDs carry no field
descriptions: this is all structure, a full PodSpec per component). Each file's header records the tag, its
commit, the sha256 of the upstream CRD file and the sha256 of the schema as canonical JSON, which the tests
recompute, so a hand edit of a vendored schema fails.
  python infra/k8s/crds/vendor_kserve.py KSERVE_GIT_DIR [TAG]
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CRDS = {"inferenceservices": "InferenceService", "servingruntimes": "ServingRuntime"}


def canonical_sha256(schema: dict) -> str:
    """The digest the header records and the tests recompute: key order and layout do not matter."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def vendor(git_dir: str, tag: str) -> None:
    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", git_dir, *args], check=True, capture_output=True).stdout

    commit = git("rev-parse", f"{tag}^{{commit}}").decode().strip()
    for plural, kind in CRDS.items():
        source = f"config/crd/full/serving.kserve.io_{plural}.yaml"
        raw = git("show", f"{commit}:{source}")
        crd = yaml.load(raw, Loader=yaml.CSafeLoader)
        (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
        schema = version["schema"]["openAPIV3Schema"]
        header = (f"# KServe {kind} ({crd['spec']['group']}/{version['name']}): the openAPIV3Schema of\n"
                  f"# github.com/kserve/kserve {tag} (commit {commit}), {source}\n"
                  f"# upstream file sha256: {hashlib.sha256(raw).hexdigest()}\n"
                  f"# schema sha256 (canonical JSON): {canonical_sha256(schema)}\n"
                  f"# Written by infra/k8s/crds/vendor_kserve.py; do not edit by hand.\n")
        body = yaml.dump(schema, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=True, width=120)
        target = HERE / f"kserve-{kind.lower()}.schema.yaml"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(header + body)
        tmp.replace(target)
        print(f"wrote {target.relative_to(HERE.parents[2])}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    vendor(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "v0.20.0")
