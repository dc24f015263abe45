"""The pipeline steps the kill-safety check runs: each as its ``mtst`` command line and the outputs it owns.

The arguments are those of ``dvc.yaml``, so the step killed here is the step the pipeline runs; each names
the commit instants (mtst.failpoints) a timer only hits by luck, so the check can stop it there on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch

# The instants a timer only hits by luck: just before a folder replaces its predecessor, and between the
# two renames of that replace (reached only with a previous output in place). See mtst.io.atomic_dir.
COMMIT_FAILPOINTS = ("io.before_replace=1", "io.between_renames=1")


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


def pipeline_steps(profile: str = "smoke", variant: str = "frozen") -> dict[str, Step]:
    """The steps of ``dvc.yaml`` (same arguments), plus ``predict`` on the Task B test split and the training
    of ``variant`` (``train``: a fixture here, not killed; ``mtst train --resume`` has its own test)."""
    p = ("--profile", profile)
    steps = [
        Step("fetch", ("data", "fetch", "--out", "data", *p), ("data",)),
        Step("prepare", ("data", "prepare", "--data-dir", "data", "--out", "artifacts/splits", *p),
             ("artifacts/splits",)),
        Step("validate", ("validate", "--data-dir", "data", "--splits", "artifacts/splits", "--out",
                          "artifacts/validation", *p), ("artifacts/validation",),
             volatile=("artifacts/validation/data_docs/*",)),
        Step("augment", ("augment", "--splits", "artifacts/splits", "--out", "artifacts/augmented", "--no-progress",
                         *p), ("artifacts/augmented",)),
        Step("train", ("train", "--variant", variant, "--splits", "artifacts/splits", "--augmented",
                       "artifacts/augmented", "--out", f"artifacts/train/{variant}", *p),
             (f"artifacts/train/{variant}",)),
        Step("evaluate", ("evaluate", "--variant", variant, "--splits", "artifacts/splits", "--train-dir",
                          f"artifacts/train/{variant}", "--out", f"artifacts/eval/{variant}", "--metrics",
                          f"metrics/{variant}.json", "--validation", "artifacts/validation", *p),
             (f"artifacts/eval/{variant}", f"metrics/{variant}.json"),
             volatile=(f"artifacts/eval/{variant}/mlflow.json", f"artifacts/eval/{variant}/metrics.json",
                       f"artifacts/eval/{variant}/report.json", f"metrics/{variant}.json")),
        Step("compare", ("compare", "--eval-root", "artifacts/eval", "--out", "reports", *p),
             ("reports/comparison.md", "reports/comparison.png", "reports/comparison.json"), settle=1,
             volatile=("reports/comparison.md", "reports/comparison.json"),  # timed side by side: sentences/s
             failpoints=()),
        Step("predict", ("predict", "--input", "artifacts/splits/task_b/test.jsonl", "--output",
                         "predictions/task_b_test.jsonl", "--model", f"artifacts/train/{variant}", *p),
             ("predictions/task_b_test.jsonl",), failpoints=()),
    ]
    return {s.name: s for s in steps}


KILLABLE = ("fetch", "prepare", "validate", "augment", "evaluate", "compare", "predict")
