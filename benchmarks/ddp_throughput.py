"""Training throughput of 1 vs N processes under torchrun on this machine (not a test).

Both runs train the same full-encoder stage with the same global batch; the CPU threads are split
between the processes (N processes x cores/N threads), so the ratio shows what data parallelism buys
on one box, gradient all-reduce (gloo) included:

    .venv/bin/python benchmarks/ddp_throughput.py --splits artifacts/splits --steps 40 --nproc 2

The first stage of each run is a short warm-up and is not timed; throughput is the timed stage's rows
per second of its own wall time, as the trainer records it in stages.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import yaml

from mtst.config import read_params_dict
from mtst.kfp.launch import torchrun_command

from results import default_out, write_results
from mtst.contracts.training import STAGES
from mtst.dag import LAYOUT


def _variant(steps: int) -> dict:
    return {"description": "throughput probe: every encoder layer trained",
            "stages": [{"name": "warmup", "encoder": "all", "max_steps": 3},
                       {"name": "timed", "encoder": "all", "max_steps": steps}]}


def run(work: Path, splits: Path, nproc: int, threads: int, batch_size: int) -> float:
    """Train the probe with ``nproc`` processes of ``threads`` threads, launched the way the kfp training
    component launches them (1 process too, so both runs pay the same launcher); return the timed stage's rows/s."""
    out = work / f"nproc{nproc}"
    cmd = torchrun_command(nproc, "probe", params_file=work / "params.yaml", splits=splits, out=out)
    subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, check=True, capture_output=True)
    stages = json.loads((out / STAGES).read_text())
    timed = next(stage for stage in stages if stage["name"] == "timed")
    return timed["steps"] * batch_size / timed["wall_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--splits", type=Path, default=Path(LAYOUT.splits))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch, split across processes")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=default_out("ddp_throughput"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mtst-ddp-") as tmp:
        work = Path(tmp)
        raw = read_params_dict(args.params)
        raw["train"].update(batch_size=args.batch_size, checkpoint_every=10_000, variants={"probe": _variant(args.steps)})
        raw["pipeline"] = {"variants": ["probe"], "followups": {}}
        raw.setdefault("tracking", {})["enabled"] = False
        (work / "params.yaml").write_text(yaml.safe_dump(raw))
        threads = max(1, args.cores // args.nproc)
        single = run(work, args.splits, 1, args.cores, args.batch_size)
        multi = run(work, args.splits, args.nproc, threads, args.batch_size)
    print(f"1 process ({args.cores} threads): {single:.1f} rows/s")
    print(f"{args.nproc} processes ({threads} thread(s) each): {multi:.1f} rows/s")
    print(f"ratio {args.nproc} / 1 processes: {multi / single:.2f}x  (global batch {args.batch_size}, {args.steps} timed steps)")
    runs = [{"processes": 1, "threads_each": args.cores, "rows_per_s": single, "ratio_to_1_process": 1.0},
            {"processes": args.nproc, "threads_each": threads, "rows_per_s": multi, "ratio_to_1_process": multi / single}]
    result = {"settings": {"nproc": args.nproc, "cores": args.cores, "steps": args.steps,
                           "global_batch_size": args.batch_size, "splits": str(args.splits)},
              "runs": runs}
    notes = (f"The same full-encoder stage trained by 1 process and by {args.nproc} torchrun processes, global batch "
             f"{args.batch_size}, {args.steps} timed steps after a warm-up stage, the CPU's {args.cores} threads split "
             "between the processes; rows/s of the timed stage as the trainer records it (gloo all-reduce included).")
    write_results("ddp_throughput", result, runs, title="Training throughput: 1 vs N torchrun processes",
                  notes=notes, out=args.out)
    print(f"(full report: {args.out})")


if __name__ == "__main__":
    main()
