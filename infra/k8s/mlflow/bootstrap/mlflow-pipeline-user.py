"""Create the MLflow user the pipeline's tasks log as (idempotent), with the admin's credentials.

Run by the Job mlflow-pipeline-user (Kubernetes) and by tests/test_containers.py against the containerised
server. Environment: MLFLOW_URL, MLFLOW_AUTH_ADMIN_USERNAME / _PASSWORD, MLFLOW_TRACKING_USERNAME / _PASSWORD.
Exits non-zero, naming the HTTP status, when the server refuses.
"""

import os
import sys
import time

import requests

url = os.environ.get("MLFLOW_URL", "http://mlflow:5000").rstrip("/")
admin = (os.environ["MLFLOW_AUTH_ADMIN_USERNAME"], os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"])
user, password = os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]

for attempt in range(60):  # the server may still be starting (the Job restarts on failure as well)
    try:
        if requests.get(f"{url}/health", timeout=5).ok:
            break
    except requests.RequestException:
        pass
    time.sleep(5)

found = requests.get(f"{url}/api/2.0/mlflow/users/get", params={"username": user}, auth=admin, timeout=10)
if found.status_code == 200:
    print(f"user {user} exists")
    sys.exit(0)
created = requests.post(f"{url}/api/2.0/mlflow/users/create", json={"username": user, "password": password},
                        auth=admin, timeout=10)
if not created.ok:
    sys.exit(f"creating user {user}: HTTP {created.status_code} {created.text[:300]}")
print(f"user {user} created")
