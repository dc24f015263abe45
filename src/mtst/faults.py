"""Fault injection: every pipeline step is kill-safe, checked by killing the real ``mtst`` command.

A step killed at any moment must leave each of its outputs either as the previous complete output or absent,
never partial, and never a new output next to an old one it must match; run again, it must give the same
files as a clean run (for files that hold timings or MLflow run ids: the same values, those fields aside).

The check runs the step as the real CLI subprocess in a scratch workspace (its own ``params.yaml`` copy,
``mlflow.db``, ``TMPDIR``), SIGKILLs its process group after a seeded random delay, and inspects the outputs.
To tell old from new, the "previous complete output" put in place before half of the kills is the clean
run's output with a marker appended to every file: byte for byte it differs from anything the step writes,
and the steps never read their own outputs. Used by ``benchmarks/fault_injection.py`` and
``tests/test_kill_safety.py``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from mtst.evaluation.flatten import flatten
from mtst.io import sha256_file

MARKER = b"\n"  # appended to every file of the planted previous output (keeps JSON valid, changes every hash)
STRAY = re.compile(r"^\..+\.(tmp|old)$")  # what mtst.io's atomic writes leave behind when killed
# Fields that differ between two clean runs: wall-clock measurements (and ratios of them) and MLflow run ids.
TIMING_KEY = re.compile(r"(^|\.)(seconds|wall_s|\w*sentences_per_s|throughput_ratio|train_time_ratio)$")
IDENTITY_KEY = re.compile(r"(^|\.)(run_id|parent_run_id|stage_run_ids\.[^.]+|model_uri)$")
FAILPOINTS_ENV = "MTST_FAILPOINTS"
FAILPOINT_TIMEOUT_S = 1800
# The instants a timer only hits by luck: just before a folder replaces its predecessor, and between the
# two renames of that replace (reached only with a previous output in place). See mtst.io.atomic_dir.
COMMIT_FAILPOINTS = ("io.before_replace=1", "io.between_renames=1")
# Run times in file names (GX Data Docs: validations/<suite>/__none__/20261127T135102.756519Z/...): compared
# as one token, so two clean runs have the same file set.
STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z")
STAMP_TOKEN = "<time>"
CACHES = ("torchinductor_",)  # TMPDIR entries that are caches by design (torch's compile cache), not leftovers
ENV_DEFAULTS = {"MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


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
             failpoints=()),
        Step("predict", ("predict", "--input", "artifacts/splits/task_b/test.jsonl", "--output",
                         "predictions/task_b_test.jsonl", "--model", f"artifacts/train/{variant}", *p),
             ("predictions/task_b_test.jsonl",), failpoints=()),
    ]
    return {s.name: s for s in steps}


KILLABLE = ("fetch", "prepare", "validate", "augment", "evaluate", "compare", "predict")


# ---- the scratch workspace --------------------------------------------------------------------------
@dataclass
class Workspace:
    """A scratch project folder: params and profiles copied from ``project``, its own MLflow store and TMPDIR."""

    root: Path
    project: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, root: str | Path, project: str | Path) -> Workspace:
        root, project = Path(root).resolve(), Path(project).resolve()
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project / "params.yaml", root / "params.yaml")
        shutil.copytree(project / "profiles", root / "profiles", dirs_exist_ok=True)
        (root / "tmp").mkdir(exist_ok=True)
        env = {**os.environ, **ENV_DEFAULTS,
               "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
               "MTST_SOURCE_CACHE": str(project / ".cache" / "sources"),
               "NLTK_DATA": os.environ.get("NLTK_DATA", str(project / ".cache" / "nltk_data")),
               "TMPDIR": str(root / "tmp"), "PYTHONUNBUFFERED": "1"}
        for key in ("MTST_PIPELINE_ID", "MTST_PIPELINE_RUN_ID"):
            env.pop(key, None)
        return cls(root, project, env)

    def command(self, step: Step) -> list[str]:
        script = Path(sys.executable).with_name("mtst")
        base = [str(script)] if script.exists() else [sys.executable, "-m", "mtst.cli"]
        return [*base, *step.args]

    def start(self, step: Step, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with log.open("ab") as fh:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(self.command(step), cwd=self.root, env=env or self.env, stdout=fh, stderr=fh,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def log_path(self, step: Step) -> Path:
        folder = self.root / ".faults" / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{step.name}.log"

    def run(self, step: Step, timeout: float = 1800) -> float:
        """Run ``step`` to completion; its wall seconds. A failure raises with the log's tail."""
        log = self.log_path(step)
        start = time.perf_counter()
        proc = self.start(step, log)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise
        if code != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"`mtst {' '.join(step.args)}` exited {code}:\n{tail}")
        return time.perf_counter() - start

    def kill_after(self, step: Step, delay: float | None, failpoints: str | None = None) -> bool:
        """Start ``step`` and SIGKILL its process group after ``delay`` seconds, or let it die at a failpoint
        (``MTST_FAILPOINTS``, see mtst.failpoints); True if it was killed, False if it finished first."""
        env = {**self.env, FAILPOINTS_ENV: failpoints} if failpoints else self.env
        proc = self.start(step, self.log_path(step), env)
        try:
            proc.wait(timeout=delay if delay is not None else FAILPOINT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return True
        if proc.returncode == -signal.SIGKILL and failpoints:
            return True
        if proc.returncode != 0:
            raise RuntimeError(f"`mtst {' '.join(step.args)}` exited {proc.returncode} before it was killed; "
                               f"see {self.log_path(step)}")
        return False

    def strays(self) -> list[str]:
        """Leftovers of interrupted atomic writes (``.<name>.*.tmp``, ``.<name>.old``) anywhere in the
        workspace, and anything left in its TMPDIR."""
        found = [str(p.relative_to(self.root)) for p in _walk(self.root, skip={".faults", "tmp", "profiles"})
                 if STRAY.match(p.name)]
        found += [str(p.relative_to(self.root)) for p in sorted((self.root / "tmp").iterdir())
                  if not p.name.startswith(CACHES)]
        return sorted(found)

    def clear_strays(self) -> None:
        for name in self.strays():
            _remove(self.root / name)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _walk(root: Path, skip: set[str]) -> Iterator[Path]:
    for entry in sorted(root.iterdir()):
        if entry.name in skip and entry.parent == root:
            continue
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry, skip)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# ---- outputs: snapshot, classify, compare ----------------------------------------------------------
Tree = dict[str, str]              # file (relative to the output; "." for a file output) -> sha256
Snapshot = dict[str, Tree | None]  # output path -> its files, None when absent


def tree(path: Path) -> Tree | None:
    if path.is_file():
        return {".": sha256_file(path)}
    if not path.is_dir():
        return None
    return {STAMP.sub(STAMP_TOKEN, str(p.relative_to(path))): sha256_file(p)
            for p in sorted(path.rglob("*")) if p.is_file()}


def snapshot(root: Path, outputs: Iterable[str]) -> Snapshot:
    return {out: tree(root / out) for out in outputs}


def _file(root: Path, output: str, name: str) -> Path:
    if name == ".":
        return root / output
    if STAMP_TOKEN in name:
        return next((root / output).glob(name.replace(STAMP_TOKEN, "*")))
    return root / output / name


def _label(output: str, name: str) -> str:
    return output if name == "." else f"{output}/{name}"


def complete(path: Path) -> bool:
    """A volatile file is whole: JSON parses, a PNG ends with its IEND chunk, HTML closes, others are non-empty."""
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            json.loads(data)
        except ValueError:
            return False
        return True
    if path.suffix == ".png":
        return data.endswith(b"IEND\xaeB`\x82")
    if path.suffix == ".html":
        return b"</html>" in data[-200:].lower()
    return len(data) > 0


def is_new(step: Step, root: Path, output: str, current: Tree, reference: Tree) -> bool:
    """``current`` is a complete output of this step: the clean run's files, the volatile ones whole."""
    if set(current) != set(reference):
        return False
    for name, digest in current.items():
        if digest == reference[name]:
            continue
        if not (step.is_volatile(_label(output, name)) and complete(_file(root, output, name))):
            return False
    return True


def classify(step: Step, root: Path, current: Snapshot, previous: Snapshot | None,
             reference: Snapshot) -> dict[str, str]:
    """Each output's state after a kill: ``absent``, ``previous``, ``new`` or ``partial``."""
    states = {}
    for output, files in current.items():
        if files is None:
            states[output] = "absent"
        elif previous is not None and files == previous.get(output):
            states[output] = "previous"
        elif is_new(step, root, output, files, reference[output] or {}):
            states[output] = "new"
        else:
            states[output] = "partial"
    return states


def loose_key(key: str) -> bool:
    """A field whose value differs between two clean runs: a timing or an MLflow identity."""
    return bool(TIMING_KEY.search(key) or IDENTITY_KEY.search(key))


def json_differences(reference: Path, current: Path) -> list[str]:
    """Flattened keys whose values differ, timing and identity fields aside."""
    def values(path: Path) -> dict[str, Any]:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in flatten(obj if isinstance(obj, dict) else {"": obj}).items() if not loose_key(k)}

    a, b = values(reference), values(current)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, "<missing>") != b.get(k, "<missing>"))


@dataclass
class Rerun:
    """How a re-run after a kill compares with the clean run."""

    identical_files: bool = True                            # every non-volatile file byte-identical
    differing_files: list[str] = field(default_factory=list)
    metric_differences: list[str] = field(default_factory=list)  # "<file>: <key>" beyond timings and ids
    volatile_bytes: list[str] = field(default_factory=list)      # volatile files whose bytes differ (expected)


def compare_rerun(step: Step, root: Path, reference_copy: Path, reference: Snapshot, current: Snapshot) -> Rerun:
    result = Rerun()
    for output, ref in reference.items():
        cur = current.get(output)
        if cur is None or ref is None:
            if cur != ref:
                result.identical_files = False
                result.differing_files.append(output)
            continue
        for name in sorted(ref.keys() | cur.keys()):
            label = _label(output, name)
            if ref.get(name) == cur.get(name):
                continue
            if name not in ref or name not in cur or not step.is_volatile(label):
                result.identical_files = False
                result.differing_files.append(label)
            elif label.endswith(".json"):
                result.volatile_bytes.append(label)
                diffs = json_differences(_file(reference_copy, output, name), _file(root, output, name))
                result.metric_differences += [f"{label}: {k}" for k in diffs]
            else:
                result.volatile_bytes.append(label)
    return result


# ---- planting previous outputs ----------------------------------------------------------------------
def copy_outputs(src_root: Path, dst_root: Path, outputs: Iterable[str], marker: bytes = b"") -> None:
    """Copy outputs from one root to another (replacing what is there); ``marker`` is appended to every file."""
    for output in outputs:
        src, dst = src_root / output, dst_root / output
        _remove(dst)
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


# ---- the experiment -----------------------------------------------------------------------------------
@dataclass
class Kill:
    index: int
    trigger: str                      # "after 2.31 s" or "failpoint io.between_renames=1"
    with_previous: bool
    killed_mid_run: bool
    states: dict[str, str]
    strays: list[str]                 # right after the kill
    strays_after_rerun: list[str]     # still there once the step ran again
    rerun: Rerun

    @property
    def partial(self) -> list[str]:
        return [o for o, s in self.states.items() if s == "partial"]

    @property
    def mixed(self) -> bool:
        """A new output next to an old one it must match."""
        return "new" in self.states.values() and "previous" in self.states.values()


@dataclass
class StepReport:
    step: str
    duration_s: float
    kills: list[Kill] = field(default_factory=list)

    @property
    def timer_kills(self) -> int:
        return sum(not k.trigger.startswith("failpoint") for k in self.kills)

    @property
    def killed_mid_run(self) -> int:
        return sum(k.killed_mid_run for k in self.kills)

    @property
    def partial(self) -> int:
        return sum(len(k.partial) + k.mixed for k in self.kills)

    @property
    def stray_files(self) -> list[str]:
        return sorted({s for k in self.kills for s in k.strays})

    @property
    def strays_after_rerun(self) -> list[str]:
        return sorted({s for k in self.kills for s in k.strays_after_rerun})

    @property
    def rerun_identical(self) -> bool:
        return all(k.rerun.identical_files for k in self.kills)

    @property
    def metric_differences(self) -> list[str]:
        return sorted({d for k in self.kills for d in k.rerun.metric_differences})

    def summary(self) -> dict[str, Any]:
        return {"step": self.step, "duration_s": round(self.duration_s, 1), "kills": len(self.kills),
                "killed_mid_run": self.killed_mid_run, "partial_outputs": self.partial,
                "stray_temp_files": self.stray_files, "strays_after_rerun": self.strays_after_rerun,
                "rerun_identical": self.rerun_identical, "metric_differences": self.metric_differences,
                "kills_detail": [{"trigger": k.trigger, "with_previous": k.with_previous, "killed": k.killed_mid_run,
                                  "states": k.states, "strays": k.strays} for k in self.kills]}


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
            _remove(ws.root / output)
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
    with ``data`` (a finished data/ folder) that is copied instead of running ``fetch``. Their wall seconds."""
    order = list(steps)
    timings = {}
    for name in order[:order.index(upto)]:
        if all((ws.root / out).exists() for out in steps[name].outputs):
            continue
        if name == "fetch" and data is not None:
            shutil.copytree(data, ws.root / "data")
        else:
            timings[name] = ws.run(steps[name])
    return timings


def format_table(reports: Sequence[StepReport]) -> str:
    header = ["step", "clean s", "kills (timer+failpoint)", "killed mid-run", "partial outputs", "stray temp files",
              "strays after re-run", "re-run identical", "metric differences"]
    rows = [[r.step, f"{r.duration_s:.1f}", f"{r.timer_kills}+{len(r.kills) - r.timer_kills}", str(r.killed_mid_run),
             str(r.partial), str(len(r.stray_files)), str(len(r.strays_after_rerun)),
             "yes" if r.rerun_identical else "no", str(len(r.metric_differences))] for r in reports]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
