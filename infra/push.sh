#!/usr/bin/env bash
# Pushes the images the cluster runs to REGISTRY and pins the manifests to what was pushed: every
# kustomization's `images:` entry gets REGISTRY/<name> and the registry's digest of that push, so
# `kubectl apply -k` runs exactly these bytes (a re-pushed tag cannot change them).
#   TORCH_VARIANT=cuda make image && make mlflow-image && make serving-image && infra/push.sh registry.example.com/team
set -euo pipefail

cd "$(dirname "$0")/.."
REGISTRY="${1:?usage: infra/push.sh REGISTRY (e.g. registry.example.com/team)}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)"
MLFLOW="$(sed -n 's/^mlflow==\([^ ]*\).*/\1/p' infra/requirements-mlflow.lock)"

pin() {  # pin LOCAL_TAG NAME KUSTOMIZATION...
    local local_tag="$1" name="$2"; shift 2
    local remote="$REGISTRY/$name:${local_tag#*:}"
    docker tag "$local_tag" "$remote"
    docker push --quiet "$remote" > /dev/null
    local digest
    digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$remote" \
              | sed -n "s|^$REGISTRY/$name@||p" | head -n 1)"
    [ -n "$digest" ] || { echo "error: no digest for $remote after the push" >&2; exit 1; }
    for kustomization in "$@"; do
        python3 - "$kustomization" "$name" "$REGISTRY/$name" "$digest" <<'PY'
import re, sys
path, name, new_name, digest = sys.argv[1:]
text = open(path, encoding="utf-8").read()
block = re.compile(rf"(  - name: {re.escape(name)}\n(?:    .*\n)*)")
match = block.search(text)
if not match:
    sys.exit(f"error: {path} has no images entry for {name}")
entry = re.sub(r"(    newName: )\S+", rf"\g<1>{new_name}", match.group(1))
entry = re.sub(r"(    digest: )\S+", rf"\g<1>{digest}", entry)
open(path, "w", encoding="utf-8").write(text[:match.start()] + entry + text[match.end():])
PY
        echo "pinned $name in $kustomization: $REGISTRY/$name@$digest" >&2
    done
    PINNED="$REGISTRY/$name@$digest"
}

pin "mtst:$VERSION-cuda" mtst infra/k8s/training/kustomization.yaml infra/k8s/training/trainer-v2/kustomization.yaml
echo "the pipeline's components: MTST_KFP_IMAGE=$PINNED mtst kfp submit ..." >&2
pin "mtst-mlflow-server:$MLFLOW" mtst-mlflow-server infra/k8s/mlflow/kustomization.yaml
pin "mtst-serving:$VERSION" mtst-serving infra/k8s/serving/kustomization.yaml
