"""The validate → evaluate → compare part of the pipeline over the fixture variants (trained untracked, so each
evaluation logs its variant's training part too), logged over HTTP to a real ``mlflow server`` exactly as
``mtst validate`` / ``mtst evaluate`` / ``mtst compare`` do (MLFLOW_TRACKING_URI points at it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mtst.config import CompareParams, EvaluateParams, TrackingParams, ValidateParams

VARIANTS = ["frozen", "staged", "staged_static", "single_a", "single_b"]
FAST_EVALUATE = EvaluateParams(throughput_sentences=48, throughput_repeats=1)
FAST_COMPARE = CompareParams(bootstrap=200, inference_sentences=48, inference_repeats=1,
                             serving_timed_sentences=48)  # of 90 test rows: ONNX scores the other 42 untimed


@dataclass
class TrackedPipeline:
    uri: str
    pipeline_id: str
    eval_dirs: dict[str, Path]
    evaluations: dict[str, dict[str, Any]]
    summary: dict[str, Any]
    reports: Path
    validation: Path
    tracking: TrackingParams = field(default_factory=TrackingParams)


def run_tracked_pipeline(uri: str, train_dirs: Any, splits: Path, root: Path) -> TrackedPipeline:
    from mtst.steps import compare, evaluate, validate

    validation = root / "validation"  # the real validate step: report.json + GX Data Docs, logged on the parent
    pipeline_id = f"test-{uuid.uuid4().hex[:8]}"
    tracking = TrackingParams()
    eval_dirs, evaluations = {}, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MTST_ONNX_CACHE", str(root / "onnx-cache"))  # the serving table's exports: not the repo's cache
        validate.run(ValidateParams(), splits, validation, data_dir=None, tracking=tracking,
                     pipeline_params={"profile": "test", "variants": VARIANTS}, pipeline_id=pipeline_id)
        for variant in VARIANTS:
            eval_dirs[variant] = root / "eval" / variant
            evaluations[variant] = evaluate.run(FAST_EVALUATE, train_dirs[variant], splits, eval_dirs[variant],
                                                metrics_path=root / "metrics" / f"{variant}.json", tracking=tracking,
                                                pipeline_params={"profile": "test", "variants": VARIANTS},
                                                pipeline_id=pipeline_id)
        summary = compare.run(FAST_COMPARE, list(eval_dirs.values()), root / "reports", tracking=tracking,
                              pipeline_id=pipeline_id)
    return TrackedPipeline(uri, pipeline_id, eval_dirs, evaluations, summary, root / "reports", validation, tracking)
