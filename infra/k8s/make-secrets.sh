#!/usr/bin/env bash
# Writes the untracked env files the kustomizations generate their Secrets from (infra/k8s/*/secrets/*.env),
# one per tracked *.env.example, with random values for every empty key. Existing files are kept, so
# re-running it never rotates a credential a running deployment uses. Without these files
# `kubectl apply -k infra/k8s` fails: no example credential can reach a cluster.
#   infra/k8s/make-secrets.sh [K8S_DIR]
set -euo pipefail

K8S="${1:-$(cd "$(dirname "$0")" && pwd)}"
random() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "${1:-32}"; }

# The pipeline's MLflow user appears twice (the user the Job creates, the Secret the tasks read): one value.
pipeline_password="$(sed -n 's/^MLFLOW_TRACKING_PASSWORD=//p' "$K8S/mlflow/secrets/pipeline-user.env" 2> /dev/null || true)"
pipeline_password="${pipeline_password:-$(sed -n 's/^MLFLOW_TRACKING_PASSWORD=//p' "$K8S/pipeline-env/secrets/mlflow-credentials.env" 2> /dev/null || true)}"
pipeline_password="${pipeline_password:-$(random 32)}"

find "$K8S" -path '*/secrets/*.env.example' | sort | while read -r example; do
    target="${example%.example}"
    if [ -f "$target" ]; then
        echo "kept    $target" >&2
        continue
    fi
    umask 077
    # One file name in two secrets/ folders is one credential seen from two namespaces (minio-reader.env: the
    # user the bucket Job creates, the Secret KServe downloads with): written once, copied.
    twin="$(find "$K8S" -path "*/secrets/$(basename "$target")" ! -path "$target" | sort | head -n 1)"
    if [ -n "$twin" ]; then
        cp "$twin" "$target"
        echo "copied  $twin to $target" >&2
        continue
    fi
    while IFS= read -r line; do
        case "$line" in
            MLFLOW_TRACKING_PASSWORD=) echo "MLFLOW_TRACKING_PASSWORD=$pipeline_password" ;;
            MINIO_ROOT_USER=|AWS_ACCESS_KEY_ID=) echo "${line}$(random 20)" ;;
            [A-Z]*=) echo "${line}$(random 32)" ;;
            *) echo "$line" ;;
        esac
    done < "$example" > "$target"
    echo "written $target" >&2
done
