"""The whole curve in one call: every point (skipping finished ones), the summary, the three report files, and
the MLflow record: one parent run ``learning-curve-<time>`` with a child per point and the reports as its
artifacts. Points are logged as they finish, so a crashed grid still shows what it did; a rerun logs a new
parent whose children cover every point again (finished ones read from their ``result.json``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mtst.config import Params
from mtst.curve import grid, report, summary
from mtst.dag import LAYOUT
from mtst.run_tags import ROLE, VARIANT


class _Log:
    """The curve's MLflow parent run, or nothing when tracking is off."""

    def __init__(self, params: Params, points: list[grid.Point]) -> None:
        self.tracker, self.parent = None, None
        if not params.tracking.enabled:
            return
        from mtst.tracking import Tracker, preflight
        from mtst.tracking.store import guard

        preflight(params.tracking)  # fail in seconds, before hours of training
        self.tracker = Tracker.open(params.tracking)
        with guard(self.tracker.uri, "opening the learning-curve run"):
            self.parent = self.tracker.create_run(f"learning-curve-{time.strftime('%Y%m%d-%H%M%S')}",
                                                  {ROLE: "learning_curve"})
            c = params.curve
            self.tracker.log_params(self.parent, {"curve.sizes": str(c.sizes), "curve.seeds": str(c.seeds),
                                                  "curve.variants": str(c.variants),
                                                  "curve.epoch_scale": str(c.epoch_scale),
                                                  "curve.lr_scales": str(c.lr_scales), "curve.tune_on": c.tune_on,
                                                  "points": str(len(points))})

    def point(self, point: grid.Point, result: dict[str, Any]) -> None:
        if self.tracker is None:
            return
        from mtst.tracking.store import guard

        with guard(self.tracker.uri, f"logging learning-curve point {point}"):
            child = self.tracker.create_run(f"{point.variant}@{point.size_label}-{point.seed}",
                                            {ROLE: "learning_curve_point", VARIANT: point.variant},
                                            parent=self.parent)
            self.tracker.log_params(child, {"size": point.size_label, "seed": str(point.seed),
                                            "variant": point.variant,
                                            "task_b_train_rows": str(result["task_b_train_rows"]),
                                            "lr_scale": str(result.get("lr_scale", 1.0)),
                                            "lr_scale_chosen_on_seed": str(result.get("lr_scale_chosen_on_seed",
                                                                                      point.seed))})
            metrics = [("test.task_b.macro_f1", result["task_b_macro_f1"], 0),
                       ("train.wall_s", result["train_wall_s"], 0)]
            if result.get("task_a_macro_f1") is not None:
                metrics.append(("test.task_a.macro_f1", result["task_a_macro_f1"], 0))
            self.tracker.log_metrics(child, metrics)
            self.tracker.client.set_terminated(child, "FINISHED")

    def finish(self, files: dict[str, Path] | None) -> None:
        if self.tracker is None:
            return
        from mtst.tracking.store import guard

        with guard(self.tracker.uri, "finishing the learning-curve run"):
            for path in (files or {}).values():
                self.tracker.client.log_artifact(self.parent, str(path))
            self.tracker.client.set_terminated(self.parent, "FINISHED" if files else "FAILED")


def run(params: Params, data_dir: str | Path = LAYOUT.data, root: str | Path = LAYOUT.curve_root,
        out: str | Path | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Run ``params.curve``'s grid under ``root`` and write the reports to ``out`` (default ``curve.out``).
    Returns the summary plus ``points`` (the results), ``skipped`` (points already finished) and ``files``."""
    data_dir, root = Path(data_dir), Path(root)
    points = grid.points(params)
    log = _Log(params, points)
    results, skipped, files = [], 0, None
    try:
        for point in points:
            skipped += (point.folder(root) / grid.RESULT).exists()
            result = grid.run_point(params, point, data_dir, root, show_progress)
            results.append(result)
            log.point(point, result)
        single, augmentation = grid.comparisons(params)
        curve = summary.summarize(results, params.compare.tolerance, single=single, augmentation=augmentation)
        files = report.write(curve, results, Path(out or params.curve.out))
    finally:
        log.finish(files)
    return {**curve, "points": results, "skipped": skipped, "files": {k: str(v) for k, v in files.items()},
            "mlflow_run_id": log.parent}
