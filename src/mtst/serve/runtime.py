"""``MtstRuntime``: the MLServer runtime that serves an mtst export (ONNX Runtime or OpenVINO; no torch).

The model is the export folder at the model-settings' ``parameters.uri``, loaded by ``mtst.export.backend.
load_backend`` with the backend named in ``parameters.extra`` (the loader ``mtst predict`` uses), and it answers
with the same ``predict_proba`` and the same argmax as ``mtst.serving.predict_frame``: served labels and
probabilities are ``mtst predict``'s with the same backend.

Each request is checked (``mtst.serve.limits``) when it arrives, before MLServer's adaptive batcher merges it
with others: MLServer installs the batcher as the instance's ``predict`` before it calls :meth:`load`, and
:meth:`load` puts the check in front of whatever ``predict`` is then (the batcher, or the model call itself when
batching is off). The model call runs on a thread: the event loop keeps taking (and refusing) requests meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
from mlserver import MLModel
from mlserver.errors import MLServerError
from mlserver.types import (InferenceRequest, InferenceResponse, MetadataModelResponse, MetadataTensor, Parameters,
                            ResponseOutput)
from mlserver.utils import get_model_uri

from mtst.serve.limits import INPUT, Limits, RequestRefused, texts_of
from mtst.serve.protocol import BATCH_ROWS, LABEL, PROBABILITIES

"""The Prometheus histogram of texts per model call (a merged batch): how much adaptive batching merges."""
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def _batch_rows() -> Any:
    """The histogram, in prometheus_client's default registry: the one MLServer's /metrics serves when the model
    runs in the server's process (its own ``mlserver.metrics`` registry is served only with parallel workers)."""
    from prometheus_client import REGISTRY, Histogram

    try:
        return Histogram(BATCH_ROWS, "texts per model call (requests merged by adaptive batching)", ["model"],
                         buckets=ROW_BUCKETS)
    except ValueError:  # a second load of the model in this process (MLServer's repository API) finds it there
        return REGISTRY._names_to_collectors[BATCH_ROWS]


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class MtstRuntime(MLModel):  # type: ignore[misc]
    """Texts in (``text``), both tasks' labels and probabilities out (``<task>_label``, ``<task>_probabilities``)."""

    async def load(self) -> bool:
        from mtst.export.backend import load_backend

        extra = self.settings.parameters.extra
        self.limits = Limits(**extra["limits"])
        threads = extra.get("threads") or _cores()
        self.model = load_backend(await get_model_uri(self.settings), extra["backend"], threads)
        self.batch_rows = _batch_rows().labels(model=self.name)
        self.inputs = [MetadataTensor(name=INPUT, datatype="BYTES", shape=[-1])]
        self.outputs = [tensor for task, labels in self.model.tasks.items() for tensor in (
            MetadataTensor(name=f"{task}{LABEL}", datatype="BYTES", shape=[-1]),
            MetadataTensor(name=f"{task}{PROBABILITIES}", datatype="FP32", shape=[-1, len(labels)],
                           parameters=Parameters(labels=list(labels))))]
        self.predict = self._checked(self.predict)  # in front of the batcher MLServer installed, if any
        return True

    def _checked(self, then: Any) -> Any:
        async def predict(payload: InferenceRequest) -> InferenceResponse:
            try:
                texts_of(payload.inputs, self.limits)
            except RequestRefused as refused:
                raise MLServerError(str(refused), status_code=refused.status) from None
            return await then(payload)

        return predict

    async def metadata(self) -> MetadataModelResponse:
        """MLServer's, plus what runs (``backend``: what the runtime really computes in) and each task's labels."""
        response = await super().metadata()
        response.parameters = Parameters(backend=self.model.backend, tasks=dict(self.model.tasks))
        return response

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """One model call for a request, or for the requests the batcher merged (each checked on arrival)."""
        texts = [t.decode("utf-8") if isinstance(t, bytes) else t for t in payload.inputs[0].data.root]
        probabilities = await asyncio.to_thread(self.model.predict_proba, texts)
        self.batch_rows.observe(len(texts))
        outputs = []
        for task, labels in self.model.tasks.items():
            proba = np.asarray(probabilities[task], dtype=np.float32)
            outputs += [ResponseOutput(name=f"{task}{LABEL}", datatype="BYTES", shape=[len(texts)],
                                       data=[labels[i] for i in proba.argmax(axis=1)]),
                        ResponseOutput(name=f"{task}{PROBABILITIES}", datatype="FP32", shape=list(proba.shape),
                                       data=proba.ravel().tolist())]
        return InferenceResponse(model_name=self.name, model_version=self.version, outputs=outputs)
