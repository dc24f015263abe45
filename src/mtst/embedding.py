"""``mtst embed``: sentences to embeddings, with a cosine-similarity matrix for a handful of sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtst.data.files import DataFileError, read_table, read_text
from mtst.io import atomic_path, first_json_row, write_jsonl
from mtst.model.encoder import default_encoder_path
from mtst.model.multitask import CONFIG_FILE, MultiTaskSentenceTransformer


def load_encoder_model(path: str | Path | None) -> MultiTaskSentenceTransformer:
    """A saved mtst model, or any local HF model directory (then without task heads)."""
    if path and (Path(path) / CONFIG_FILE).exists():
        return MultiTaskSentenceTransformer.load(path)
    return MultiTaskSentenceTransformer({}, encoder=path or default_encoder_path())


def read_sentences(path: str | Path) -> list[str]:
    """Plain text (one sentence a line) or a CSV / JSONL / Parquet file with a ``text`` column."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "exists", "file not found")
    if path.suffix.lower() in {".txt", ""}:
        lines = [line.strip() for line in read_text(path).split("\n")]  # LF only: U+2028 is not a line break
        sentences = [line for line in lines if line]
    else:
        sentences = [t for t in read_table(path, required=("text",), optional=())["text"] if t.strip()]
    if not sentences:
        raise DataFileError(path, "non_empty", "the file holds no sentences")
    return sentences


def written_by_embed(path: Path) -> bool:
    """Whether ``path`` is a JSONL file ``mtst embed`` wrote (its first line: ``text`` and ``embedding`` only).
    A ``.npy`` array carries no mark of its writer, so replacing one takes ``--force``."""
    row = first_json_row(path) if path.suffix in {".jsonl", ".ndjson"} else None
    return isinstance(row, dict) and set(row) == {"text", "embedding"}


def save_embeddings(embeddings: np.ndarray, sentences: list[str], out: str | Path) -> None:
    out = Path(out)
    if out.suffix == ".npy":
        with atomic_path(out) as tmp, tmp.open("wb") as fh:
            np.save(fh, embeddings)
    elif out.suffix in {".jsonl", ".ndjson"}:
        write_jsonl(out, ({"text": s, "embedding": [round(float(x), 7) for x in e]} for s, e in zip(sentences, embeddings)))
    else:
        raise ValueError(f"{out}: output must end in .npy or .jsonl")


def similarity_table(sentences: list[str], embeddings: np.ndarray) -> str:
    """Cosine similarity matrix as text (embeddings are L2-normalised, so a dot product)."""
    sims = embeddings @ embeddings.T
    labels = [f"[{i}]" for i in range(len(sentences))]
    lines = [f"{i}: {s}" for i, s in zip(labels, sentences)]
    lines.append(" " * 6 + " ".join(f"{label:>6}" for label in labels))
    for label, row in zip(labels, sims):
        lines.append(f"{label:>6} " + " ".join(f"{v:6.3f}" for v in row))
    return "\n".join(lines)
