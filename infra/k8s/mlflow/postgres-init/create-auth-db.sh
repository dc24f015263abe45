#!/bin/sh
# First start of the database only (docker-entrypoint-initdb.d): the auth app's users live in their own
# database beside MLflow's ($POSTGRES_DB), owned by the same role.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE DATABASE mlflow_auth OWNER \"$POSTGRES_USER\""
