"""What a kfp component does around its step: parse the params, map artifacts to paths, publish results.

``components/*.py`` call ``mtst.steps.<step>.run(...)`` with artifact paths, then these helpers to turn the
step's outputs into typed KFP artifacts: scalar metrics on ``Metrics``, confusion matrices on
``ClassificationMetrics`` (the KFP UI draws them), the Data Docs on ``HTML``, the comparison on
``Markdown``. Training keeps its checkpoints where a retry of the same task (a new process or pod) finds
them and resumes (``task_checkpoints``). The helpers run in the component image and import nothing from kfp.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtst.config import ConfigError, Params


def load_params(params_json: str) -> Params:
    """The effective params (params.yaml + profile) that the pipeline received as one JSON string."""
    from pydantic import ValidationError

    try:
        raw = json.loads(params_json or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"pipeline parameter params_json is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError("pipeline parameter params_json must be a JSON object (the params.yaml mapping)")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"pipeline parameter params_json: {exc}") from None


def params_dict(params_json: str) -> dict[str, Any]:
    """The raw params mapping (what the DVC path hands MLflow as the pipeline's parameters)."""
    return json.loads(params_json or "{}")


def use_pipeline_id(pipeline_run_id: str) -> None:
    """Group this task's MLflow runs under the KFP run's parent run (``mtst.tracking`` reads MTST_PIPELINE_ID)."""
    if pipeline_run_id:
        os.environ.setdefault("MTST_PIPELINE_ID", f"kfp-{pipeline_run_id}")


def flatten_numbers(obj: Any, prefix: str = "") -> dict[str, float]:
    """Finite numeric leaves of a nested mapping as ``{"a.b.c": value}`` (lists, strings, bools skipped)."""
    out: dict[str, float] = {}
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                out.update(flatten_numbers(value, f"{name}."))
            elif _is_number(value):
                out[name] = float(value)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def log_metrics(metrics: Any, summary: Mapping[str, Any] | None, prefix: str = "") -> dict[str, float]:
    """Log every numeric leaf of ``summary`` on a KFP ``Metrics`` artifact; return what was logged."""
    values = flatten_numbers(summary or {}, prefix)
    for name, value in sorted(values.items()):
        metrics.log_metric(name, value)
    return values


# --- Data Docs -> HTML -------------------------------------------------------------------------------------

def data_docs_pages(report_dir: str | Path) -> list[Path]:
    """The Data Docs pages worth showing: validation-result pages if any, else the site's index.html."""
    root = Path(report_dir)
    pages = sorted(root.rglob("*.html"))
    results = [p for p in pages if "validations" in p.relative_to(root).parts]
    if results:
        return results
    index = sorted((p for p in pages if p.name == "index.html"), key=lambda p: len(p.parts))
    return index[:1] or pages[:1]


def publish_html(report_dir: str | Path, html_path: str | Path) -> list[Path]:
    """Write one self-contained HTML file for the KFP UI: the single page as is, or every page in an
    ``<iframe srcdoc>`` (the UI shows one file, and Data Docs link between files)."""
    pages = data_docs_pages(report_dir)
    out = Path(html_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(pages) == 1:
        shutil.copyfile(pages[0], out)
        return pages
    root = Path(report_dir)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Data Docs</title></head><body>"]
    if not pages:
        parts.append("<p>The validation step wrote no HTML Data Docs.</p>")
    for page in pages:
        name = html.escape(str(page.relative_to(root)))
        body = html.escape(page.read_text(encoding="utf-8", errors="replace"), quote=True)
        parts.append(f"<h2>{name}</h2><iframe style='width:100%;height:900px;border:0' srcdoc=\"{body}\"></iframe>")
    parts.append("</body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")
    return pages


# --- Confusion matrices -> ClassificationMetrics -----------------------------------------------------------

def confusion_matrices(eval_dir: str | Path, tasks: Iterable[str] = ("task_a", "task_b")) -> dict[str, tuple[list[str], list[list[int]]]]:
    """``{task: (labels, matrix)}`` from the evaluate step's ``report.json`` (``tasks.<task>.confusion`` with
    labels and matrix, rows actual) or ``metrics.json``, falling back to the DVC confusion plot files
    (``plots/confusion_<task>.json``, records of actual/predicted)."""
    eval_dir = Path(eval_dir)
    report = read_json(eval_dir, "report.json")
    metrics = read_json(eval_dir, "metrics.json")
    out: dict[str, tuple[list[str], list[list[int]]]] = {}
    for task in tasks:
        found = _confusion_from_node((report.get("tasks") or {}).get(task), task) if isinstance(report, Mapping) else None
        if found is None:
            found = _confusion_from_node(metrics.get(task), task)
        for key in ("confusion_matrix", "confusion_matrices", "confusion"):
            if found is None and isinstance(metrics.get(key), Mapping):
                found = _confusion_from_node({key: metrics[key].get(task)}, task)
        if found is None:
            for path in sorted(eval_dir.rglob("*.json")):
                if "confusion" in path.name and task in path.as_posix():
                    found = _confusion_from_node(json.loads(path.read_text(encoding="utf-8")), task)
                    if found:
                        break
        if found is not None:
            out[task] = found
    return out


def _task_labels(task: str) -> list[str] | None:
    try:
        from mtst.data.datasets import TASK_LABELS
    except ImportError:  # pragma: no cover
        return None
    labels = TASK_LABELS.get(task)
    return list(labels) if labels else None


def _is_matrix(value: Any) -> bool:
    return (isinstance(value, list) and bool(value) and all(isinstance(r, list) and len(r) == len(value) for r in value)
            and all(_is_number(x) for r in value for x in r))


def _confusion_from_node(node: Any, task: str) -> tuple[list[str], list[list[int]]] | None:
    if isinstance(node, list) and node and all(isinstance(r, Mapping) for r in node):
        return _confusion_from_records(node)
    if not isinstance(node, Mapping):
        return None
    labels = node.get("labels") or node.get("categories") or node.get("classes")
    if _is_matrix(node.get("matrix")):
        matrix = node["matrix"]
        labels = list(labels) if labels else _task_labels(task)
        if labels and len(labels) == len(matrix):
            return [str(x) for x in labels], [[int(x) for x in row] for row in matrix]
    for key, value in node.items():
        if "confusion" not in str(key):
            continue
        if _is_matrix(value):
            return _confusion_from_node({"labels": labels, "matrix": value}, task)
        found = _confusion_from_node(value, task)
        if found:
            return found
    return None


def _confusion_from_records(rows: list[Mapping[str, Any]]) -> tuple[list[str], list[list[int]]] | None:
    keys = rows[0].keys()
    actual_key = next((k for k in ("actual", "label", "true", "y_true") if k in keys), None)
    pred_key = next((k for k in ("predicted", "prediction", "pred", "y_pred") if k in keys), None)
    if not actual_key or not pred_key:
        return None
    labels = sorted({str(r[actual_key]) for r in rows} | {str(r[pred_key]) for r in rows})
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for row in rows:
        matrix[index[str(row[actual_key])]][index[str(row[pred_key])]] += int(row.get("count", 1))
    return labels, matrix


def log_confusion_matrices(eval_dir: str | Path, artifacts: Mapping[str, Any]) -> list[str]:
    """``artifacts``: ``{task: ClassificationMetrics}``; returns the tasks whose matrix was logged."""
    found = confusion_matrices(eval_dir, artifacts.keys())
    for task, (labels, matrix) in found.items():
        artifacts[task].log_confusion_matrix(labels, matrix)
    return sorted(found)


# --- Collected evaluations -> one folder per variant -------------------------------------------------------

def stage_by_variant(artifacts: Iterable[Any], dest: str | Path) -> list[Path]:
    """Link each collected evaluation artifact as ``<dest>/<variant>`` (its ``variant`` metadata), so the
    compare step sees the same ``eval_dirs`` layout as the DVC path, whatever the artifact URIs are."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dirs: list[Path] = []
    for i, artifact in enumerate(artifacts):
        variant = str((artifact.metadata or {}).get("variant") or f"variant_{i}")
        target = dest / variant
        try:
            os.symlink(Path(artifact.path).resolve(), target, target_is_directory=True)
        except OSError:
            shutil.copytree(artifact.path, target)
        dirs.append(target)
    return dirs


def copy_file(src: str | Path, dst: str | Path) -> None:
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


# --- Follow-up variants (init_from) -------------------------------------------------------------------------

def _variant_configs(params: Params) -> dict[str, Any]:
    train = getattr(params, "train", None)
    variants = getattr(train, "variants", None) if train is not None else None
    return dict(variants or {})


def _init_from(config: Any) -> str | None:
    return config.get("init_from") if isinstance(config, Mapping) else getattr(config, "init_from", None)


def init_model_dir(params: Params, variant: str, init_models: Any | None) -> Path | None:
    """The model folder a follow-up variant starts from, inside the ``collect_init_models`` artifact."""
    source = _init_from(_variant_configs(params).get(variant))
    if source is None:
        return None
    if init_models is None:
        raise ConfigError(f"variant {variant!r} starts from {source!r}, but the task got no init_models")
    path = Path(init_models.path) / source / "model"
    if not path.exists():
        raise ConfigError(f"variant {variant!r} starts from {source!r}, but {path} does not exist")
    return path


def collect_init_models(params: Params, models: Iterable[Any], dest: str | Path) -> list[str]:
    """Copy ``<model>/model`` of each collected train artifact that some variant starts from into
    ``<dest>/<variant>/model``; return the variants copied."""
    sources = {s for s in map(_init_from, _variant_configs(params).values()) if s}
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for artifact in models:
        variant = (artifact.metadata or {}).get("variant")
        if variant in sources:
            shutil.copytree(Path(artifact.path) / "model", dest / variant / "model")
            copied.append(variant)
    return sorted(copied)


# --- Checkpoints that a retry of the training task finds ---------------------------------------------------

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""What a resolved run id looks like (a KFP run UUID; kfp.local's random number): one safe folder name."""


@dataclass(frozen=True)
class TaskCheckpoints:
    """Where one training task keeps its checkpoints. ``folder`` belongs to this task alone (the trainer's
    checkpoints, their lock and temporaries live in it); ``shared``: every attempt of the task in this
    pipeline run sees it, so a retry resumes; ``resume_step``: the steps an earlier attempt checkpointed."""

    folder: Path
    shared: bool
    resume_step: int

    @property
    def path(self) -> Path:
        """The trainer's checkpoint folder (``checkpoint_dir``)."""
        return self.folder / "checkpoints"


def task_checkpoints(checkpoint_root: str, pipeline_run_id: str, variant: str) -> TaskCheckpoints:
    """``<checkpoint_root>/<run id>/<variant>/``: the same folder for every attempt of this task in this run.

    ``checkpoint_root`` is what the pipeline wires in: the mount of the checkpoint claim on a cluster, the
    local pipeline root's ``.checkpoints`` under kfp.local. Anything that is not a folder path here (the
    cluster's object-store pipeline root, or a placeholder the backend left unresolved) gives a private
    temporary folder instead, and the log says that a retry will start from step 0."""
    root = Path(checkpoint_root) if checkpoint_root and "{{" not in checkpoint_root else None
    if root is None or not root.is_absolute() or not RUN_ID_PATTERN.fullmatch(pipeline_run_id or ""):
        folder = scratch_dir("checkpoints")
        print(f"checkpoints: {folder}, private to this attempt (checkpoint root {checkpoint_root!r}, run id "
              f"{pipeline_run_id!r}): a retry starts from step 0; compile with --checkpoint-pvc CLAIM to keep "
              "them on a volume", flush=True)
        return TaskCheckpoints(folder, False, 0)
    folder = root / pipeline_run_id / variant
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"checkpoint folder {folder} cannot be created by this task (uid {os.getuid()}): "
                          f"{exc.strerror}; make the checkpoint volume writable for the image's user "
                          "(e.g. the pod's fsGroup)") from None
    step = checkpointed_steps(folder / "checkpoints")
    print(f"checkpoints: {folder / 'checkpoints'} "
          + (f"(resuming from step {step}, checkpointed by an earlier attempt)" if step
             else "(kept for a retry of this task; removed once it succeeds)"), flush=True)
    return TaskCheckpoints(folder, True, step)


def checkpointed_steps(checkpoint_dir: str | Path) -> int:
    """Training steps the checkpoint in ``checkpoint_dir`` holds (its history has one record per step);
    0 when there is none (the trainer resumes only from a complete checkpoint: its state file exists)."""
    from mtst.training.checkpoint import HISTORY, STATE

    folder = Path(checkpoint_dir)
    if not (folder / STATE).is_file():
        return 0
    return sum(1 for line in (folder / HISTORY).read_text(encoding="utf-8").splitlines() if line.strip())


def release_checkpoints(checkpoints: TaskCheckpoints) -> None:
    """After the task trained: remove its folder, and the run's folder once no other variant uses it."""
    shutil.rmtree(checkpoints.folder, ignore_errors=True)
    if checkpoints.shared:
        with contextlib.suppress(OSError):  # not empty: another variant of this run is still training
            checkpoints.folder.parent.rmdir()


# --- Small file helpers -------------------------------------------------------------------------------------

def scratch_dir(name: str) -> Path:
    """A private temporary folder (checkpoints, staging) outside the artifact folders KFP uploads."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"mtst-{name}-"))


def read_json(folder: str | Path, name: str) -> Any:
    path = Path(folder) / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def find_file(folder: str | Path, name: str) -> Path:
    """``<folder>/<name>``, or the shallowest file of that name below it."""
    folder = Path(folder)
    if (folder / name).is_file():
        return folder / name
    found = sorted(folder.rglob(name), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"{name} not found under {folder}")
    return found[0]


# --- Training: in-process, or N processes under torchrun ---------------------------------------------------

class TrainLaunchError(RuntimeError):
    """``torchrun`` exited non-zero; the message ends with the tail of its log (every rank's output)."""


def torchrun_command(nproc: int, variant: str, *, params_file: str | Path, splits: str | Path, out: str | Path,
                     augmented: str | Path | None = None, init_from: str | Path | None = None,
                     checkpoints: str | Path | None = None, resume: bool = False, nnodes: int | None = None,
                     python: str | None = None) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc-per-node N -m mtst.cli train ...``: the same
    arguments ``mtst train`` takes, for ``nproc`` processes in this pod (``--standalone``: a rendezvous on
    localhost with a free port, one node). ``nnodes`` > 1 drops ``--standalone`` and leaves the rendezvous to
    torchrun's ``PET_*`` environment (what the Kubeflow training operators set)."""
    import sys

    if int(nproc) < 1:
        raise ConfigError(f"train_nproc must be at least 1, got {nproc}")
    launcher = [python or sys.executable, "-m", "torch.distributed.run"]
    launcher += ["--standalone"] if not nnodes or nnodes == 1 else [f"--nnodes={int(nnodes)}"]
    launcher += [f"--nproc-per-node={int(nproc)}"]
    args = ["-m", "mtst.cli", "train", "--variant", variant, "--params", str(params_file), "--splits", str(splits),
            "--out", str(out)]
    for flag, value in (("--augmented", augmented), ("--init-from", init_from), ("--checkpoints", checkpoints)):
        if value is not None:
            args += [flag, str(value)]
    if resume:
        args.append("--resume")
    return launcher + args


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by the cgroup v2 quota (a pod's CPU limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def train_variant(params_json: str, variant: str, splits: str | Path, out: str | Path,
                  augmented: str | Path | None = None, init_dir: str | Path | None = None,
                  checkpoint_dir: str | Path | None = None, resume: bool = False, nproc: int = 1) -> dict[str, Any]:
    """Train one variant as the kfp ``train`` component does: in this process when ``nproc`` is 1, else as
    ``nproc`` processes under torchrun (one per GPU of the pod, or CPU processes with gloo), which write the
    same folder; returns the train summary either way. ``resume``: continue from the checkpoint in
    ``checkpoint_dir`` if there is one (a retried task), else start afresh."""
    params = load_params(params_json)  # bad params fail here, before any process starts
    if int(nproc) < 1:
        raise ConfigError(f"train_nproc must be at least 1, got {nproc}")
    if int(nproc) == 1:
        from mtst.steps import train as step

        return step.run(params, variant, splits, out, augmented, init_dir=init_dir, checkpoint_dir=checkpoint_dir,
                        resume=resume, show_progress=False)

    import subprocess
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory(prefix="mtst-torchrun-") as tmp:
        params_file = Path(tmp) / "params.yaml"
        params_file.write_text(yaml.safe_dump(params_dict(params_json), sort_keys=False), encoding="utf-8")
        command = torchrun_command(nproc, variant, params_file=params_file, splits=splits, out=out,
                                   augmented=augmented, init_from=init_dir, checkpoints=checkpoint_dir,
                                   resume=resume)
        env = {**os.environ, "TQDM_DISABLE": "1"}  # no progress bars in task logs (show_progress=False)
        if "OMP_NUM_THREADS" not in env and not getattr(params.train, "threads", None):
            # torchrun would set 1; share the pod's CPUs (its cgroup quota) between the processes instead
            env["OMP_NUM_THREADS"] = str(max(1, available_cpus() // int(nproc)))
        log = Path(tmp) / "torchrun.log"
        with open(log, "w+", encoding="utf-8", errors="replace") as sink:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace")
            assert proc.stdout is not None
            for line in proc.stdout:  # streamed to the task log and kept for the error message
                print(line, end="", flush=True)
                sink.write(line)
            code = proc.wait()
            if code != 0:
                sink.seek(0)
                tail = sink.read()[-4000:]
                raise TrainLaunchError(f"torchrun with {nproc} processes exited with code {code}: "
                                       f"{' '.join(command)}\n{tail}")
    return read_json(out, "train_summary.json")
