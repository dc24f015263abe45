"""The experiment: run a step clean, plant its previous output, kill it at seeded moments and at its commit
instants, and after each kill inspect its outputs and run it again."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from .outputs import classify, compare_rerun, snapshot
from .report import Kill, StepReport
from .steps import Step
from .workspace import Workspace, remove

MARKER = b"\n"  # appended to every file of the planted previous output (keeps JSON valid, changes every hash)


def copy_outputs(src_root: Path, dst_root: Path, outputs: Iterable[str], marker: bytes = b"") -> None:
    """Copy outputs from one root to another (replacing what is there); ``marker`` is appended to every file."""
    for output in outputs:
        src, dst = src_root / output, dst_root / output
        remove(dst)
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
            files = [p for p in dst.rglob("*") if p.is_file()]
        else:
            shutil.copyfile(src, dst)
            files = [dst]
        if marker:
            for path in files:
                with path.open("ab") as fh:
                    fh.write(marker)


def inject(ws: Workspace, step: Step, kills: int, seed: int, window: tuple[float, float] = (0.0, 1.0),
           failpoints: Sequence[str] | None = None) -> StepReport:
    """Run ``step`` clean (the reference), then kill it ``kills`` times after a seeded delay in ``window`` x
    its clean duration (the previous output planted before every other kill, starting with the first; none
    before the others), and once at each of ``failpoints`` (default: the step's; previous output planted).
    After each kill: inspect, run the step again to completion, compare with the reference. Ends with the
    step's complete output in place, for the steps after it."""
    store = ws.root / ".faults"
    reference_copy, previous_copy = store / "reference" / step.name, store / "previous" / step.name
    for _ in range(step.settle):
        ws.run(step)
    duration = ws.run(step)
    reference = snapshot(ws.root, step.outputs)
    copy_outputs(ws.root, reference_copy, step.outputs)
    copy_outputs(ws.root, previous_copy, step.outputs, marker=MARKER)
    previous = snapshot(previous_copy, step.outputs)
    ws.clear_strays()
    rng = random.Random(f"{seed}:{step.name}")
    plan: list[tuple[bool, float | None, str | None]] = [(i % 2 == 0, rng.uniform(*window) * duration, None)
                                                          for i in range(kills)]
    plan += [(True, None, point) for point in (step.failpoints if failpoints is None else failpoints)]
    report = StepReport(step.name, duration)
    for index, (with_previous, delay, point) in enumerate(plan):
        for output in step.outputs:
            remove(ws.root / output)
        if with_previous:
            copy_outputs(previous_copy, ws.root, step.outputs)
        killed = ws.kill_after(step, delay, point)
        current = snapshot(ws.root, step.outputs)
        states = classify(step, ws.root, current, previous if with_previous else None, reference)
        strays = ws.strays()
        ws.run(step)
        rerun = compare_rerun(step, ws.root, reference_copy, reference, snapshot(ws.root, step.outputs))
        trigger = f"failpoint {point}" if point else f"after {delay:.2f} s"
        report.kills.append(Kill(index, trigger, with_previous, killed, states, strays, ws.strays(), rerun))
        ws.clear_strays()
    return report


def prepare_inputs(ws: Workspace, steps: dict[str, Step], upto: str, data: Path | None = None) -> dict[str, float]:
    """Run the steps before ``upto`` (in pipeline order) whose outputs are missing, so its inputs exist;
    with ``data`` (a finished datasets folder) that is copied to ``fetch``'s output instead. Their wall seconds."""
    order = list(steps)
    timings = {}
    for name in order[:order.index(upto)]:
        if all((ws.root / out).exists() for out in steps[name].outputs):
            continue
        if name == "fetch" and data is not None:
            (output,) = steps[name].outputs
            shutil.copytree(data, ws.root / output)
        else:
            timings[name] = ws.run(steps[name])
    return timings
