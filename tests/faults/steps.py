"""The pipeline steps the kill-safety check runs: each as its ``mtst`` command line and the outputs it owns.

The command lines and outputs are the DAG's (``mtst.dag``), so the step killed here is the step ``dvc repro``
runs; what only this harness knows stays here: ``predict`` (not a DAG stage), which files legitimately differ
between clean runs, and the commit instants (mtst.failpoints) a timer only hits by luck, so the check can stop a
step there on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

from mtst import dag
from mtst.contracts.comparison import REPORT_FILES

# The instants a timer only hits by luck: just before a folder replaces its predecessor, and between the
# two renames of that replace (reached only with a previous output in place). See mtst.io.atomic_dir.
COMMIT_FAILPOINTS = ("io.before_replace=1", "io.between_renames=1")
PREDICTIONS = "predictions/task_b_test.jsonl"
"""Where the harness's ``predict`` step writes (predict is no DAG stage: nothing else reads this file)."""


@dataclass(frozen=True)
class Step:
    """One pipeline step as its ``mtst`` command line and the outputs it owns (workspace-relative paths).

    ``volatile``: glob patterns (over ``<output>/<file>``) of files whose bytes legitimately differ between
    clean runs; JSON ones are compared by value without timing and identity fields, others only for being
    complete. ``settle``: clean runs before the reference, for a step whose first run changes state it
    reads on the next (``compare`` registers the champion, then finds it registered). ``failpoints``: the
    commit instants it passes (steps that replace no folder pass none)."""

    name: str
    args: tuple[str, ...]
    outputs: tuple[str, ...]
    volatile: tuple[str, ...] = ()
    settle: int = 0
    failpoints: tuple[str, ...] = COMMIT_FAILPOINTS

    def is_volatile(self, name: str) -> bool:
        return any(fnmatch(name, pattern) for pattern in self.volatile)


def stage_step(name: str, variant: str, profile: str, **harness: Any) -> Step:
    """DAG stage ``name`` as a step: its arguments (for ``variant`` where it is per variant) with the profile,
    and every path it writes (outs, metrics, uncached outs) as its outputs."""
    stage = dag.stage(name)
    outputs = [path for kind in ("outs", "metrics", "uncached_outs") for path in stage.paths(kind, variant)]
    return Step(name, (*stage.argv(variant), "--profile", profile), tuple(outputs), **harness)


def pipeline_steps(profile: str = "smoke", variant: str = "frozen") -> dict[str, Step]:
    """The DAG's stages up to ``compare`` for one ``variant``, plus ``predict`` on the Task B test split.
    ``train`` is a fixture here, not killed (``mtst train --resume`` has its own test)."""
    L = dag.LAYOUT
    evaluation = L.evaluation(variant)
    steps = [
        stage_step("fetch", variant, profile),
        stage_step("prepare", variant, profile),
        stage_step("validate", variant, profile, volatile=(f"{L.validation}/data_docs/*",)),
        stage_step("augment", variant, profile),
        stage_step("train", variant, profile),
        stage_step("evaluate", variant, profile,
                   volatile=(f"{evaluation}/mlflow.json", f"{evaluation}/metrics.json", f"{evaluation}/report.json",
                             L.metrics(variant))),
        # compare registers the champion, then finds it registered: one settling run. Its text reports quote
        # timings (sentences/s); the chart is drawn from the scores alone.
        stage_step("compare", variant, profile, settle=1,
                   volatile=tuple(f"{L.reports}/{f}" for f in REPORT_FILES if not f.endswith(".png")),
                   failpoints=()),
        Step("predict", ("predict", "--input", f"{L.splits}/task_b/test.jsonl", "--output", PREDICTIONS,
                         "--model", L.train(variant), "--profile", profile), (PREDICTIONS,), failpoints=()),
    ]
    return {s.name: s for s in steps}


KILLABLE = ("fetch", "prepare", "validate", "augment", "evaluate", "compare", "predict")
