#!/bin/sh
# The artifact bucket, the bucket-scoped user MLflow stores artifacts with and the read-only user KServe's
# storage initializer downloads served models with (idempotent). The root account
# reaches mc through MC_HOST_store (set from the Secret by the Job), never through a command line.
set -eu
mc --config-dir /tmp/mc mb --ignore-existing store/mlflow-artifacts
mc --config-dir /tmp/mc admin policy create store mlflow-artifacts /etc/mlflow-bootstrap/artifacts-policy.json
mc --config-dir /tmp/mc admin user add store "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
mc --config-dir /tmp/mc admin policy attach store mlflow-artifacts --user "$AWS_ACCESS_KEY_ID" || true  # already attached
mc --config-dir /tmp/mc admin policy create store mlflow-artifacts-read /etc/mlflow-bootstrap/artifacts-read-policy.json
mc --config-dir /tmp/mc admin user add store "$READER_ACCESS_KEY_ID" "$READER_SECRET_ACCESS_KEY"
mc --config-dir /tmp/mc admin policy attach store mlflow-artifacts-read --user "$READER_ACCESS_KEY_ID" || true
