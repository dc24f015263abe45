"""The evaluated variants to compare, read through the eval-folder contracts, in the pipeline's declared order."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from mtst.contracts.comparison import Prediction, read_predictions
from mtst.contracts.evaluation import METRICS, EvalFolder, Metrics, MlflowInfo, VariantInfo
from mtst.data.vader import DOMAINS as VADER_DOMAINS
from mtst.comparison.errors import ComparisonError
from mtst.evaluation.testset import rows_digest
from mtst.tasks import TASK_NAMES


@dataclass
class Result:
    """One eval folder: its flat metrics, what the variant is (``variant.json``; absent in folders evaluated
    before it existed) and where it was logged (``mlflow.json``; only with tracking on)."""

    variant: str
    eval_dir: Path
    metrics: Metrics
    info: VariantInfo | None = None
    mlflow: MlflowInfo | None = None

    @property
    def tasks(self) -> list[str]:
        return list((self.info.tasks if self.info else None)
                    or [t for t in TASK_NAMES if f"{t}.macro_f1" in self.metrics.root])

    @property
    def description(self) -> str:
        return self.info.description if self.info else ""

    @property
    def params(self) -> dict[str, Any]:
        return self.info.params if self.info else {}

    @property
    def init_from(self) -> str | None:
        """The variant this one starts from; flat in the params, or nested as the trainer writes them."""
        return self.params.get("init_from") or (self.params.get("variant") or {}).get("init_from")

    @property
    def ablation_of(self) -> str | None:
        """The variant this one ablates (``train.variants.<v>.ablation_of`` as it trained), None when it is none."""
        return (self.params.get("variant") or {}).get("ablation_of")

    @property
    def augmented(self) -> bool | None:
        return self.info.augmented if self.info else None

    def get(self, key: str) -> float | None:
        value = self.metrics.get(key)
        return None if value is None else float(value)

    def predictions(self, task: str) -> list[Prediction]:
        return read_predictions(self.eval_dir / "predictions" / f"{task}.jsonl")

    @cached_property
    def test_data_hash(self) -> str | None:
        """The digest of the test rows the metrics were computed on (``mtst.evaluation.testset``), what the
        registry and earlier runs are matched by; None when the folder has no predictions for one of its tasks."""
        return rows_digest(self.info.split if self.info else "test",
                           {task: [(r.id, r.label) for r in self.predictions(task)] for task in self.tasks})


_DOMAIN, _F1 = "task_b.domain.", ".macro_f1"


def domain_names(results: list[Result]) -> list[str]:
    """Task B's domains the results have macro-F1 for, in the report's column order: the built-in source's
    (VADER's order), then any other (a user file's ``domain`` column), sorted; none when Task B has no domains."""
    found = {key[len(_DOMAIN):-len(_F1)] for r in results for key in r.metrics.root
             if key.startswith(_DOMAIN) and key.endswith(_F1)}
    return [d for d in VADER_DOMAINS if d in found] + sorted(found - set(VADER_DOMAINS))


def load_results(eval_dirs: list[str | Path], order: list[str] | None = None) -> list[Result]:
    """Every eval folder, sorted by :func:`order_key` over ``order`` (the pipeline's declared variants)."""
    results = []
    for folder in map(Path, eval_dirs):
        if not (folder / METRICS).exists():
            raise ComparisonError(f"{folder} has no {METRICS}: run `mtst evaluate` for that variant first")
        records = EvalFolder(folder)
        info = records.variant()
        results.append(Result(info.variant if info and info.variant else folder.name, folder, records.metrics(),
                              info, records.mlflow()))
    if not results:
        raise ComparisonError("no evaluation folders to compare")
    return sorted(results, key=lambda r: order_key(r, order or []))


def order_key(result: Result, order: list[str]) -> tuple[int, bool, str]:
    """Declared variants in their declared order; then the others by name, the ablations last."""
    rank = order.index(result.variant) if result.variant in order else len(order)
    return rank, result.ablation_of is not None, result.variant
