"""The names of the served model's Open Inference Protocol contract, declared once: the runtime writes them, the
load test and the clients read them. Import-light (no MLServer), so the main environment can import it too."""

LABEL, PROBABILITIES = "_label", "_probabilities"
"""Suffixes of the output tensors, per task: ``<task>_label`` (BYTES) and ``<task>_probabilities`` (FP32)."""
BATCH_ROWS = "mtst_batch_rows"
"""The Prometheus histogram of texts per model call (how many texts adaptive batching merged)."""
