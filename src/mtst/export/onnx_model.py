"""``OnnxModel``: an ONNX export run by ONNX Runtime on CPU, with the inference surface of
``MultiTaskSentenceTransformer`` that prediction, evaluation and serving use (``tasks``, ``max_length``,
``encode``, ``predict_proba_from_embeddings``, ``predict_proba``), so the backend is a one-line choice.

Batching is the torch model's: sentences sorted by length, each batch padded to its longest sentence only
(the graph has dynamic batch and sequence axes). The thread count defaults to torch's, so a comparison of
the two backends in one process gives both the same cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mtst.backends import backend_running
from mtst.export.layout import HEADS_FILE, TOKENIZER_DIR, export_kind, graph_file, output_names, read_config


def session_options(threads: int) -> Any:
    """All graph optimisations; ``threads`` for one operator, none running in parallel to another (inference
    is one chain of operators, and a second pool would only compete for the same cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


class OnnxModel:
    """Sentences → ``{task: probabilities}`` through ``model.onnx``; embeddings → probabilities through
    ``heads.onnx``. Load an export folder with :meth:`load`."""

    runtime = "onnxruntime"
    """The package that runs the graphs; with the export and :meth:`backend_options`, it names the backend."""

    def __init__(self, model_file: str | Path, heads_file: str | Path, tokenizer: Any, config: dict[str, Any],
                 threads: int | None = None) -> None:
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        self.config = config
        self.tasks: dict[str, list[str]] = {task: list(labels) for task, labels in config["tasks"].items()}
        self.max_length = int(config["max_length"])
        self.embedding_dim = int(config["embedding_dim"])
        self.quantisation: dict[str, Any] | None = config.get("quantisation")
        self.backend = backend_running(self.runtime, export_kind(config), **self.backend_options())
        self.tokenizer = tokenizer
        self.threads = threads
        self.session = self._session(Path(model_file), heads=False)
        self.heads_session = self._session(Path(heads_file), heads=True)
        self.model_file = Path(model_file)
        self._outputs = output_names(list(self.tasks))
        self._widths = {"embedding": self.embedding_dim,
                        **{name: len(labels) for name, labels in zip(self._outputs, self.tasks.values(), strict=True)}}

    def backend_options(self) -> dict[str, Any]:
        """The loader options in force (``mtst.backends.Backend.options``): none for ONNX Runtime."""
        return {}

    def _session(self, graph: Path, heads: bool) -> Any:
        """What runs ``graph``: anything with ONNX Runtime's ``run(output names, inputs)``."""
        import onnxruntime as ort

        return ort.InferenceSession(str(graph), session_options(self.threads), providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, folder: str | Path, threads: int | None = None, **options: Any) -> Any:
        """The export folder ``folder``; ``options`` go to the constructor (a subclass's runtime settings)."""
        from transformers import AutoTokenizer

        folder = Path(folder)
        config = read_config(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder / TOKENIZER_DIR, local_files_only=True)
        return cls(folder / graph_file(config), folder / HEADS_FILE, tokenizer, config, threads, **options)

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Dynamic padding: to the longest sentence of the batch, truncated at ``max_length``."""
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="np")
        return {"input_ids": tokens["input_ids"].astype(np.int64),
                "attention_mask": tokens["attention_mask"].astype(np.int64)}

    def _run(self, texts: Sequence[str], outputs: list[str], batch_size: int, show_progress: bool) -> list[np.ndarray]:
        """``outputs`` of ``model.onnx`` for every text, in input order; batches of similar length."""
        texts = list(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        results = [np.zeros((len(texts), self._widths[name]), dtype=np.float32) for name in outputs]
        for start in tqdm(range(0, len(texts), batch_size), desc="onnx", unit="batch", disable=not show_progress):
            idx = order[start:start + batch_size]
            values = self.session.run(outputs, self.tokenize([texts[i] for i in idx]))
            for out, value in zip(results, values, strict=True):
                out[idx] = value
        return results

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Sentences → L2-normalised embeddings (float32), as ``MultiTaskSentenceTransformer.encode``."""
        return self._run(texts, ["embedding"], batch_size, show_progress)[0]

    def predict_proba_from_embeddings(self, embeddings: np.ndarray, task: str) -> np.ndarray:
        if task not in self.tasks:
            raise KeyError(f"unknown task {task!r}; the model has {list(self.tasks)}")
        embeddings = np.asarray(embeddings, dtype=np.float32).reshape(-1, self.embedding_dim)
        return self.heads_session.run([f"proba_{task}"], {"embedding": embeddings})[0]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> dict[str, np.ndarray]:
        """Every task's probabilities from one pass of the whole graph."""
        return dict(zip(self.tasks, self._run(texts, self._outputs, batch_size, show_progress), strict=True))

    def size(self) -> dict[str, float]:
        """Weights in the graph (elements, whatever their type: int8 weights count as fp32 ones do; an OpenVINO
        IR carries its fp32 graph's count in ``mtst_onnx.json``) and the export folder's size on disk: what
        ``mtst evaluate`` reports as ``model.*`` for a torch model."""
        from mtst.evaluation.speed import dir_size_mb

        parameters = self.config.get("parameters")
        if parameters is None:
            import onnx

            parameters = sum(int(np.prod(t.dims)) for t in onnx.load(str(self.model_file)).graph.initializer)
        return {"parameters": int(parameters), "size_mb": dir_size_mb(self.model_file.parent)}
