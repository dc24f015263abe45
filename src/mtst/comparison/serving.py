"""The serving table: the champion run by each backend of ``compare.serving_backends`` (by default torch, ONNX
Runtime int8, OpenVINO bf16 and int8), its macro-F1 per task on the whole test split, its sentences/s
per task and its size on disk; and the backend the registered champion is served by.

Why one process, in turn: each evaluation timed its model alone, at another moment, so only numbers measured
side by side compare. Each task's first ``compare.serving_timed_sentences`` test sentences are cut into chunks of
``compare.inference_sentences``; every backend encodes each chunk in turn (the order rotating from chunk to
chunk), timed, at the same batch size. A backend's sentences/s for a task is those sentences over its total
time; the slower task's rate is what serving both can promise.

Quality is measured once per backend, on the whole test split: the backend the champion's evaluation ran
(``variant.json``'s ``backend``, torch by default) keeps the evaluation's macro-F1, the same model on the same
rows, and is only timed; every other backend predicts the rest of the split untimed *before* its timed chunks.
On the default profile this spares a torch pass over 2,500 of the 4,000 test sentences; and the untimed pass
comes first because OpenVINO compiles its kernels for each new input shape the first time it sees it (on the
AMX Xeon its int8 graph's first pass over 256 sentences ran at half the speed of the second): by the timed
chunks most batch shapes have been seen, as in a server that has been running a while.

The rule (:func:`choose`): the fastest backend, by the slower task's sentences/s, whose macro-F1 on every task
is within ``compare.serving_tolerance`` points of torch's; torch when none is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtst.comparison.results import Result
from mtst.comparison.statistics import macro_f1
from mtst.config import CompareParams
from mtst.contracts.comparison import Serving, ServingRow
from mtst.cpu import describe
from mtst.contracts.training import MODEL_CONFIG

REFERENCE = "torch"
WARMUP = 8  # sentences each backend runs before the timed chunks (the ONNX runtimes allocate on their first run)
EPSILON = 1e-9  # a loss of exactly the tolerance is within it, whatever the float rounding


@dataclass(frozen=True)
class Measured:
    """One backend's raw numbers: per task sentences/s and macro-F1 (a fraction), and its size on disk."""

    sentences_per_s: dict[str, float]
    macro_f1: dict[str, float]
    size_mb: float

    @property
    def serving_rate(self) -> float:
        return min(self.sentences_per_s.values())


def losses(m: Measured, reference: Measured) -> dict[str, float]:
    """Macro-F1 points lost against the reference, per task (negative: gained)."""
    return {t: 100 * (reference.macro_f1[t] - m.macro_f1[t]) for t in reference.macro_f1}


def within(m: Measured, reference: Measured, tolerance: float) -> bool:
    return max(losses(m, reference).values()) <= tolerance + EPSILON


def choose(measured: dict[str, Measured], tolerance: float) -> tuple[str, str]:
    """(the backend, why in a sentence): the fastest by the slower task's sentences/s among those within
    ``tolerance`` macro-F1 points of torch on every task; torch when none is (a tie goes to the one listed
    first)."""
    reference = measured[REFERENCE]
    lost = {name: losses(m, reference) for name, m in measured.items()}
    qualified = [name for name, m in measured.items() if within(m, reference, tolerance)]
    chosen = max(qualified, key=lambda name: (measured[name].serving_rate, -list(measured).index(name)))
    rejected = [f"{name} loses {max(lost[name].values()):.2f} points on {max(lost[name], key=lost[name].get)}"
                for name in measured if name not in qualified]
    beyond = f" ({'; '.join(rejected)}: beyond the {tolerance:g}-point tolerance)" if rejected else ""
    if chosen == REFERENCE:
        slower = [name for name in qualified if name != REFERENCE]
        why = f"; {', '.join(slower)} {'is' if len(slower) == 1 else 'are'} not faster" if slower else ""
        return chosen, f"no other backend serves faster within the tolerance{why}{beyond}"
    ratio = measured[chosen].serving_rate / reference.serving_rate
    return chosen, (f"it serves {ratio:.2f}× torch's sentences/s (the slower task's) and loses at most "
                    f"{max(0.0, *lost[chosen].values()):.2f} macro-F1 points on a task, within the "
                    f"{tolerance:g}-point tolerance{beyond}")


def rows(measured: dict[str, Measured], tolerance: float, chosen: str) -> list[ServingRow]:
    """The table's rows, in the order the backends were listed."""
    reference = measured[REFERENCE]
    out = []
    for name, m in measured.items():
        change = {t: 100 * (m.macro_f1[t] - reference.macro_f1[t]) for t in reference.macro_f1}
        out.append(ServingRow(backend=name, task_sentences_per_s=m.sentences_per_s, sentences_per_s=m.serving_rate,
                              ratio_to_torch=m.serving_rate / reference.serving_rate,
                              macro_f1=m.macro_f1, change_vs_torch=change, size_mb=m.size_mb,
                              within_tolerance=within(m, reference, tolerance), chosen=name == chosen))
    return out


def measure(model_dir: Path, backends: Sequence[str], tests: dict[str, tuple[list[str], np.ndarray, int]],
            batch_size: int, chunk: int, timed: int, known_f1: dict[str, dict[str, float]] | None = None,
            calibration: Sequence[str] | None = None) -> dict[str, Measured]:
    """Each backend over every task's test sentences ``tests[task] = (texts, label indices, classes)``, timed side
    by side on each task's first ``timed`` sentences; ``known_f1[backend]``: its macro-F1 per task on these very
    sentences, already measured (the evaluation's), so that backend is only timed (see the module docstring);
    ``calibration``: the sentences ``openvino-int8`` is calibrated on (never these test sentences)."""
    from mtst.evaluation.speed import dir_size_mb
    from mtst.export.backend import load_backend

    known_f1 = known_f1 or {}
    models: dict[str, Any] = {}
    for name in backends:  # keyed by what runs: openvino-bf16 is openvino on a CPU without bf16 (measured once)
        model = load_backend(model_dir, name, calibration=calibration)  # exported once, cached
        models.setdefault(getattr(model, "backend", name), model)
    first = next(iter(tests.values()))[0]
    for model in models.values():
        model.predict_proba(first[:WARMUP], batch_size=batch_size)
    seconds = {name: dict.fromkeys(tests, 0.0) for name in models}
    proba: dict[str, dict[str, list[np.ndarray]]] = {name: {t: [] for t in tests} for name in models}
    order = list(models)
    for task, (texts, _, _) in tests.items():
        n_timed = min(timed, len(texts))
        rest: dict[str, np.ndarray] = {}
        for name in (n for n in order if n not in known_f1 and n_timed < len(texts)):  # quality only, first
            embeddings = models[name].encode(texts[n_timed:], batch_size=batch_size)
            rest[name] = models[name].predict_proba_from_embeddings(embeddings, task)
        for i, start in enumerate(range(0, n_timed, chunk)):
            part = texts[start:min(start + chunk, n_timed)]
            for name in order[i % len(order):] + order[:i % len(order)]:  # rotate who goes first
                t0 = time.perf_counter()
                embeddings = models[name].encode(part, batch_size=batch_size)
                proba[name][task].append(models[name].predict_proba_from_embeddings(embeddings, task))
                seconds[name][task] += time.perf_counter() - t0
        for name, probabilities in rest.items():  # in split order: the timed sentences come first
            proba[name][task].append(probabilities)
    out = {}
    for name, model in models.items():
        size = dir_size_mb(model_dir) if name == REFERENCE else float(model.size()["size_mb"])
        f1 = known_f1.get(name) or {t: macro_f1(y, np.concatenate(proba[name][t]).argmax(axis=1), k)
                                    for t, (_, y, k) in tests.items()}
        out[name] = Measured({t: min(timed, len(tests[t][0])) / seconds[name][t] for t in tests}, f1, size)
    return out


def evaluated_f1(result: Result, backends: Sequence[str],
                 tests: dict[str, tuple[list[str], np.ndarray, int]]) -> dict[str, dict[str, float]]:
    """``{backend: {task: macro-F1}}`` from the champion's evaluation, when the backend it ran is one of
    ``backends`` and it scored exactly the rows of ``tests`` (same labels, same order); else {} (an evaluation
    older than ``variant.json``'s ``backend``, or a split prepared again since)."""
    assert result.info is not None
    backend = result.info.backend
    scores = {task: result.get(f"{task}.macro_f1") for task in result.tasks}
    if backend not in backends or any(v is None for v in scores.values()):
        return {}
    for task, (_, y, _) in tests.items():
        index = {label: i for i, label in enumerate(result.info.labels[task])}
        if [index.get(row.label) for row in result.predictions(task)] != y.tolist():
            return {}
    return {backend: {t: float(v) for t, v in scores.items() if v is not None}}


def split_sentences(result: Result) -> tuple[dict[str, tuple[list[str], np.ndarray, int]], str]:
    """Per task of the champion, its evaluation's split: texts, label indices in the model's label order, the
    number of classes; and the split's name."""
    from mtst.data.datasets import load_split

    assert result.info is not None
    split, labels = result.info.split, result.info.labels
    tests = {}
    for task in result.tasks:
        frame = load_split(Path(result.info.splits_dir), task, split)
        index = {label: i for i, label in enumerate(labels[task])}
        tests[task] = (frame["text"].astype(str).tolist(), frame["label"].map(index).to_numpy(), len(index))
    return tests, split


def missing_inputs(result: Result) -> str | None:
    """Why the champion cannot be measured here (its model folder or test split is absent), or None."""
    from mtst.data.datasets import split_path

    info = result.info
    if info is None or not info.model_dir or not (Path(info.model_dir) / MODEL_CONFIG).exists():
        return f"the model folder {info.model_dir if info else '(no variant.json)'} is not here"
    for task in result.tasks:
        path = split_path(Path(info.splits_dir), task, info.split)
        if not path.exists():
            return f"the test split {path} is not here"
    return None


def serving_table(champion: Result, params: CompareParams) -> Serving | None:
    """The serving table of ``champion`` (None when ``compare.serving_backends`` is empty); without its model
    or test split here, a table with no rows that says why."""
    if not params.serving_backends:
        return None
    base: dict[str, Any] = {"variant": champion.variant, "batch_size": params.inference_batch_size,
                            "tolerance": params.serving_tolerance}
    missing = missing_inputs(champion)
    if missing:
        return Serving(**base, split=champion.info.split if champion.info else "test", test_rows={}, rows=[],
                       chosen=None, reason=missing)
    from mtst.export.backend import calibration_for

    tests, split = split_sentences(champion)
    assert champion.info is not None
    measured = measure(Path(champion.info.model_dir), params.serving_backends, tests, params.inference_batch_size,
                       params.inference_sentences, params.serving_timed_sentences,
                       evaluated_f1(champion, params.serving_backends, tests),
                       calibration_for(params.serving_backends, champion.info.splits_dir, champion.tasks))
    chosen, reason = choose(measured, params.serving_tolerance)
    return Serving(**base, split=split, test_rows={t: len(v[0]) for t, v in tests.items()},
                   rows=rows(measured, params.serving_tolerance, chosen), chosen=chosen, reason=reason,
                   cpu=describe())

