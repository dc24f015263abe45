"""The DAG is declared once (``mtst.dag``): dvc.yaml, the Kubernetes jobs, ``make ablations`` and the commands'
default paths agree with the declaration, and the declaration itself is a well-formed graph."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.main import get_command

from mtst import dag
from mtst.cli import app
from mtst.training.fingerprint import OPERATIONAL
from mtst.training.schema import TrainParams


def test_dvc_yaml_is_the_declared_dag(repo_root: Path):
    """Stages, commands, deps, params, outs and metrics: `mtst dag show` prints what dvc.yaml must hold."""
    written = yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    declared = dag.dvc_stages()
    assert list(written) == list(declared)
    for name in declared:
        assert written[name] == declared[name], f"dvc.yaml stage {name!r} differs from mtst.dag (mtst dag show)"


def test_a_variant_trains_again_exactly_when_a_weight_shaping_key_changes():
    """dvc.yaml's train params are the model section, every train key the checkpoint fingerprint holds (all but
    fingerprint.OPERATIONAL) and the variant's recipe."""
    shaping = [f"train.{k}" for k in TrainParams.model_fields if k not in OPERATIONAL]
    for name in ("train", "train_followup"):
        assert dag.stage(name).params == ("model", *shaping, f"train.variants.{dag.VARIANT}")
    assert "variants" in OPERATIONAL  # a variant's recipe is tracked per variant, not as the whole mapping


def test_every_artifact_a_stage_reads_is_written_by_an_earlier_stage(repo_root: Path):
    written: set[str] = set()
    for stage in dag.STAGES:
        for dep in stage.deps:
            assert any(out == dep or out.startswith(dep + "/") for out in written), \
                f"{stage.name} reads {dep}, which no earlier stage writes"  # a folder of variants counts
        for code in stage.code:
            assert (repo_root / code).exists(), f"{stage.name}: code dependency {code} does not exist"
        written.update(stage.outs + stage.metrics + stage.uncached_outs)
        written.update(p.replace(dag.VARIANT, dag.SOURCE) for p in stage.outs)


def test_every_declared_command_parses_with_the_real_cli():
    command = get_command(app)
    for stage in dag.STAGES:
        argv = stage.argv("staged", "frozen") if stage.foreach else stage.argv()
        group = command
        while argv[0] in getattr(group, "commands", {}):
            group, argv = group.commands[argv[0]], argv[1:]
        group.make_context(stage.name, list(argv))


def test_the_commands_default_paths_are_the_layout():
    """`mtst train --variant v` alone writes where dvc.yaml's stage does (the Kubernetes jobs rely on it)."""
    command = get_command(app)
    defaults = {p.name: p.default for p in command.commands["train"].params}
    assert (str(defaults["splits"]), str(defaults["augmented"])) == (dag.LAYOUT.splits, dag.LAYOUT.augmented)
    evaluate = {p.name: p.default for p in command.commands["evaluate"].params}
    assert str(evaluate["splits"]) == dag.LAYOUT.splits  # the validation report is validate's to log, not evaluate's
    compare = {p.name: p.default for p in command.commands["compare"].params}
    assert (str(compare["eval_root"]), str(compare["out"])) == (dag.LAYOUT.eval_root, dag.LAYOUT.reports)


def test_the_kubernetes_data_job_runs_the_declared_data_stages(repo_root: Path):
    job = yaml.safe_load((repo_root / "infra/k8s/training/data/data-job.yaml").read_text(encoding="utf-8"))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = container["args"][0]
    (line,) = [l.strip() for l in script.splitlines() if l.strip().startswith("mtst ")]
    argv = line.split()[1:]
    assert argv[:2] == ["dag", "run"] and tuple(argv[2:2 + len(dag.DATA_STAGES)]) == dag.DATA_STAGES
    get_command(app).commands["dag"].commands["run"].make_context("run", argv[2:])
    assert "artifacts/" not in script.replace("artifacts/.data-ready", "")  # paths come from the declaration


def test_make_ablations_trains_the_variants_declaring_ablation_of(repo_root: Path):
    from mtst.config import load_params

    makefile = (repo_root / "Makefile").read_text(encoding="utf-8")
    assert "mtst dag ablations" in makefile and "staged_" not in makefile
    out = subprocess.run([sys.executable, "-m", "mtst.cli", "dag", "ablations", "--params",
                          str(repo_root / "params.yaml")], capture_output=True, text=True, check=True).stdout.split()
    variants = load_params(repo_root / "params.yaml").train.variants
    assert out == [name for name, v in variants.items() if v.ablation_of] and out


def test_dag_run_runs_a_stage_with_its_declared_arguments(repo_root: Path, data_dir: Path, tmp_path: Path):
    """`mtst dag run prepare` in a workspace writes the declared output, and an unknown stage is refused before
    anything runs."""
    import shutil

    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(repo_root / "profiles", tmp_path / "profiles")
    (tmp_path / dag.LAYOUT.data).symlink_to(data_dir)
    run = lambda *a: subprocess.run([sys.executable, "-m", "mtst.cli", "dag", "run", *a, "--profile", "smoke"],  # noqa: E731
                                    cwd=tmp_path, capture_output=True, text=True, env=os.environ)
    refused = run("prepare", "nope")
    assert refused.returncode == 2 and "nope" in refused.stderr and not (tmp_path / "artifacts").exists()
    done = run("prepare")
    assert done.returncode == 0, done.stderr
    assert "mtst data prepare --data-dir data --out artifacts/splits" in done.stderr
    assert {"task_a", "task_b"} <= {p.name for p in (tmp_path / dag.LAYOUT.splits).iterdir()}
