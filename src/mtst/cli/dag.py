"""``mtst dag``: the pipeline's declared DAG (``mtst.dag``) — print it as dvc.yaml's stages, run some of its stages
(what the Kubernetes data job runs), list the ablations of params.yaml (what ``make ablations`` trains)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from mtst.cli.common import ParamsOpt, ProfileOpt, user_errors

dag_app = typer.Typer(no_args_is_help=True, help="The pipeline's DAG, declared once in mtst.dag.")


@dag_app.command("show")
def dag_show() -> None:
    """Print the stages as dvc.yaml must hold them (tests/test_dag.py compares the two)."""
    import yaml

    from mtst.dag import dvc_stages

    typer.echo(yaml.safe_dump({"stages": dvc_stages()}, sort_keys=False, width=120), nl=False)


@dag_app.command("run")
@user_errors
def dag_run(stages: Annotated[list[str], typer.Argument(help="stage names, run in the order given")],
            variant: Annotated[str | None, typer.Option(help="the variant of a per-variant stage")] = None,
            params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Run declared stages one after another with their declared arguments (no DVC: nothing is skipped); the
    first that fails stops the run with its exit code."""
    from mtst.dag import stage

    commands = [stage(name).argv(variant) for name in stages]  # every name checked before anything runs
    options = ["--params", str(params), *(["--profile", profile] if profile else [])]
    for name, argv in zip(stages, commands, strict=True):
        typer.echo(f"== {name}: mtst {' '.join(argv)}", err=True)
        code = subprocess.call([sys.executable, "-m", "mtst.cli", *argv, *options])
        if code:
            raise typer.Exit(code)


@dag_app.command("ablations")
@user_errors
def dag_ablations(params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """The variants of train.variants that declare ``ablation_of``, one per line."""
    from mtst.config import load_params

    train = load_params(params, profile).train
    for name, variant in (train.variants.items() if train else ()):
        if variant.ablation_of:
            typer.echo(name)
