"""Fault injection: every pipeline step is kill-safe, checked by killing the real ``mtst`` command.

A step killed at any moment must leave each of its outputs either as the previous complete output or absent,
never partial, and never a new output next to an old one it must match; run again, it must give the same
files as a clean run (for files that hold timings or MLflow run ids: the same values, those fields aside).

The check runs the step as the real CLI subprocess in a scratch workspace (its own ``params.yaml`` copy,
``mlflow.db``, ``TMPDIR``), SIGKILLs its process group after a seeded random delay, and inspects the outputs.
To tell old from new, the "previous complete output" put in place before half of the kills is the clean
run's output with a marker appended to every file: byte for byte it differs from anything the step writes,
and the steps never read their own outputs. Used by ``benchmarks/fault_injection.py`` and
``tests/test_kill_safety.py`` only, hence a package of the tests (imported as ``faults``, like ``helpers``:
pytest puts tests/ on sys.path, the benchmark does the same), not of the runtime mtst package; the runtime
hook the kills aim at stays there (``mtst.failpoints``).

The package, by concern: ``steps`` (the catalogue of steps as ``mtst`` command lines, derived from
``mtst.dag``), ``workspace`` (the scratch project a step runs and is killed in), ``outputs`` (snapshots, and
telling previous / new / partial outputs and re-run differences apart), ``injection`` (the experiment itself) and ``report`` (its results).
"""

from .injection import MARKER, copy_outputs, inject, prepare_inputs
from .outputs import (Rerun, Snapshot, Tree, classify, compare_rerun, complete, is_new, json_differences, loose_key,
                      snapshot, tree)
from .report import Kill, StepReport, format_table
from .steps import COMMIT_FAILPOINTS, KILLABLE, Step, pipeline_steps
from .workspace import Workspace

__all__ = ["COMMIT_FAILPOINTS", "KILLABLE", "MARKER", "Kill", "Rerun", "Snapshot", "Step", "StepReport", "Tree",
           "Workspace", "classify", "compare_rerun", "complete", "copy_outputs", "format_table", "inject", "is_new",
           "json_differences", "loose_key", "pipeline_steps", "prepare_inputs", "snapshot", "tree"]
