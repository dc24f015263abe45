"""Embedding cache for frozen-encoder stages.

While the encoder is frozen (and in eval mode) a sentence's embedding never changes, so each sentence is
encoded once and the heads train on the cached vectors: an epoch costs a matrix multiply instead of a
transformer forward. The cache is keyed by the encoder's weights, the max length, the texts and the precision,
and is shared between variants and runs under ``.cache/embeddings``.

The vectors are computed in the training precision: with ``train.bf16`` on, under bf16 autocast (about 1.6x
the sentences/s of fp32 on this project's CPU; with batches of 32 instead of 128, 2.2x, measured by
``benchmarks/pipeline_levers.py``), at a cosine similarity above 0.9999 to the fp32 vectors, so the heads see
the encoder as the unfrozen stages' forward passes do.

The evaluation of a model whose encoder no stage trained (``frozen``) reads its test embeddings from here too, as
fp32 entries (the precision it is served in): encoded once for the pipeline, once per seed for the learning curve.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from mtst.environment import Environment
from mtst.io import atomic_path
from mtst.model import MultiTaskSentenceTransformer


def cache_root() -> Path:
    return Environment.current().embedding_cache


def encoder_fingerprint(model: MultiTaskSentenceTransformer) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def texts_fingerprint(texts: list[str], max_length: int) -> str:
    digest = hashlib.sha256(str(max_length).encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cached_embeddings(model: MultiTaskSentenceTransformer, texts: list[str], batch_size: int,
                      fingerprint: str | None = None, use_disk: bool = True, bf16: bool = False) -> torch.Tensor:
    """Embeddings of ``texts`` under the current (frozen) encoder, from disk when already computed; ``bf16``:
    encoded under bf16 autocast (a cache entry of its own)."""
    fingerprint = fingerprint or encoder_fingerprint(model)
    precision = "-bf16" if bf16 else ""
    path = cache_root() / f"{fingerprint}-{texts_fingerprint(texts, model.max_length)}{precision}.npy"
    if use_disk and path.exists():
        return torch.from_numpy(np.load(path))
    with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
        embeddings = model.encode(texts, batch_size=batch_size, show_progress=len(texts) > 4 * batch_size)
    if use_disk:
        with atomic_path(path, wait=True) as tmp, tmp.open("wb") as fh:  # a parallel task may be writing the same entry
            np.save(fh, embeddings)
    return torch.from_numpy(embeddings)


@contextlib.contextmanager
def one_thread(enabled: bool = True) -> Iterator[None]:
    """Run the block on one intra-op thread: the steps of a head on cached vectors are tiny matrix products,
    for which waking a second OpenMP thread costs more than the work (a 384 x 5 head's step takes a few
    hundred microseconds, and far longer when the other core is busy). Same results, every op stays serial."""
    threads = torch.get_num_threads()
    if enabled and threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
