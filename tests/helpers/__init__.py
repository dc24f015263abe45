"""Test helpers: small real training runs, a real `mlflow server`, a headless-Chromium driver."""
