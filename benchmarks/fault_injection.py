"""Kill every pipeline step at seeded random moments and check it is kill-safe (not a test; see tests/faults).

For each step (the real `mtst` command in a scratch workspace, smoke profile): one clean run records the
reference outputs; then N times the step is SIGKILLed after a seeded random delay in [0, its clean duration]
(half the kills with the previous complete output in place, half with none), the outputs are inspected
(absent, previous, new or partial; stray `.*.tmp` / `.*.old` files), and the step is run again to completion
and compared with the reference:

    .venv/bin/python benchmarks/fault_injection.py --kills 5
    .venv/bin/python benchmarks/fault_injection.py --kills 2 --steps prepare,augment --json /tmp/faults.json

`train` runs once as a fixture (the `frozen` variant) for evaluate / compare / predict.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the harness is a dev-only package of the tests, as pytest imports it
from faults import KILLABLE, Workspace, format_table, inject, pipeline_steps, prepare_inputs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5, help="kills per step (N)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", default=",".join(KILLABLE), help=f"comma-separated, of {', '.join(KILLABLE)}")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--work", type=Path, help="workspace folder (default: a new temporary one, kept)")
    parser.add_argument("--json", type=Path, help="also write every kill's details here")
    args = parser.parse_args()

    names = [n.strip() for n in args.steps.split(",") if n.strip()]
    unknown = sorted(set(names) - set(KILLABLE))
    if unknown:
        parser.error(f"unknown step(s) {unknown}; choose from {', '.join(KILLABLE)}")
    steps = pipeline_steps(args.profile)
    ws = Workspace.create(args.work or tempfile.mkdtemp(prefix="mtst-faults-"), ROOT)
    print(f"workspace {ws.root}; {args.kills} kills per step, seed {args.seed}, profile {args.profile}", flush=True)
    reports = []
    start = time.perf_counter()
    for name in [n for n in steps if n in names]:  # pipeline order
        for done, seconds in prepare_inputs(ws, steps, name).items():
            print(f"  (input) {done}: {seconds:.1f} s", flush=True)
        report = inject(ws, steps[name], args.kills, args.seed)
        reports.append(report)
        print(f"  {name}: {len(report.kills)} kills, clean run {report.duration_s:.1f} s, "
              f"states {[(k.trigger, k.states) for k in report.kills]}", flush=True)
    print()
    print(format_table(reports))
    print()
    for report in reports:
        for label, entries in (("stray temp files after the kill", report.stray_files),
                               ("left after the re-run", report.strays_after_rerun),
                               ("re-run differs from the clean run", sorted({f for k in report.kills
                                                                             for f in k.rerun.differing_files})),
                               ("metric differences", report.metric_differences)):
            if entries:
                print(f"{report.step}: {label}: {', '.join(entries)}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([r.summary() for r in reports], indent=2) + "\n")


if __name__ == "__main__":
    main()
