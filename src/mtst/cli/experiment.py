"""The experiment commands: ``train`` a variant, ``evaluate`` it, ``compare`` the variants (registering the
champion), and ``ui`` to browse the MLflow runs they log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mtst.contracts.comparison import REPORT_FILES
from mtst.dag import LAYOUT
from mtst.cli.common import ParamsOpt, PipelineIdOpt, ProfileOpt, TrackOpt, echo_json, user_errors
from mtst.config import load_params, read_params_dict


@user_errors
def train(variant: Annotated[str, typer.Option("--variant", "-v", help="a variant of params.yaml train.variants")],
          splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path(LAYOUT.splits),
          augmented: Annotated[Path | None, typer.Option(help="output of `mtst augment`")] = Path(LAYOUT.augmented),
          out: Annotated[Path | None, typer.Option(help="default artifacts/train/<variant>")] = None,
          init_from: Annotated[Path | None, typer.Option(help="model folder a follow-up variant starts from (params.yaml "
                                                         "pipeline.followups); default <out>/../<source>/model")] = None,
          checkpoints: Annotated[Path | None, typer.Option(help="default artifacts/train/.checkpoints/<variant>")] = None,
          resume: Annotated[bool, typer.Option("--resume", help="continue from the last checkpoint")] = False,
          track: TrackOpt = True, pipeline_id: PipelineIdOpt = None,
          params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Train one freeze variant (stages, sampling, loss weighting and curriculum from params.yaml); logs the
    variant's MLflow child run with its stage runs (the evaluation adds its part)."""
    from mtst.steps import train as train_step
    from mtst.training.distributed import Distributed

    config = load_params(params, profile)
    tracking = config.tracking if track and config.tracking.enabled else None  # preflighted by the step
    dist = Distributed.from_env()
    try:
        summary = train_step.run(config, variant, splits, out, augmented, init_from, checkpoints, resume, dist=dist,
                                 tracking=tracking, pipeline_params=read_params_dict(params, profile),
                                 pipeline_id=pipeline_id)
    finally:
        dist.close()
    if dist.is_main:
        shown = {k: summary[k] for k in ("variant", "wall_s", "steps", "train_rows", "validation")}
        if "mlflow" in summary:
            shown["mlflow_run_id"] = summary["mlflow"]["run_id"]
        echo_json(shown)


@user_errors
def evaluate(variant: Annotated[str | None, typer.Option("--variant", "-v", help="evaluate artifacts/train/<variant>")] = None,
             train_dir: Annotated[Path | None, typer.Option(help="a training folder; default artifacts/train/<variant>")] = None,
             splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path(LAYOUT.splits),
             out: Annotated[Path | None, typer.Option(help="default artifacts/eval/<variant>")] = None,
             metrics: Annotated[Path | None, typer.Option(help="DVC metrics file; default metrics/<variant>.json")] = None,
             track: TrackOpt = True, pipeline_id: PipelineIdOpt = None, params: ParamsOpt = Path("params.yaml"),
             profile: ProfileOpt = None) -> None:
    """Test-set metrics (macro-F1, per class, per domain, calibration), confusion matrices, throughput and size
    of one variant; adds them and the pyfunc model to the variant's MLflow child run (logging its training part
    too where training did not)."""
    from mtst.steps import evaluate as evaluate_step

    if not variant and not train_dir:
        raise typer.BadParameter("give --variant NAME or --train-dir DIR", param_hint="--variant")
    settings = load_params(params, profile)
    name = variant or Path(train_dir).name  # type: ignore[arg-type]
    tracking = settings.tracking if track and settings.tracking.enabled else None
    result = evaluate_step.run(settings.evaluate, train_dir or Path(LAYOUT.train(name)), splits,
                               out or Path(LAYOUT.evaluation(name)), metrics_path=metrics or Path(LAYOUT.metrics(name)),
                               tracking=tracking,
                               pipeline_params=read_params_dict(params, profile), pipeline_id=pipeline_id)
    keys = ("task_a.macro_f1", "task_b.macro_f1", "mean_macro_f1", "task_a.ece", "task_b.ece",
            "inference.sentences_per_s", "model.parameters", "model.size_mb")
    shown: dict[str, Any] = {k: result[k] for k in keys if k in result}
    if "mlflow" in result:
        shown["mlflow_run_id"] = result["mlflow"]["run_id"]
        shown["mlflow_parent_run_id"] = result["mlflow"]["parent_run_id"]
    echo_json({"variant": name, **shown})


@user_errors
def compare(eval_dir: Annotated[list[Path] | None, typer.Option("--eval-dir", help="evaluation folder(s); default "
                                                                "every <eval-root>/<variant>")] = None,
            eval_root: Annotated[Path, typer.Option(help="where `mtst evaluate` wrote")] = Path(LAYOUT.eval_root),
            out: Annotated[Path, typer.Option(help=", ".join(REPORT_FILES))] = Path(LAYOUT.reports),
            track: TrackOpt = True, pipeline_id: PipelineIdOpt = None,
            force_champion: Annotated[bool, typer.Option("--force-champion", help="move the alias to this run's best "
                                                         "variant even if it does not beat the champion on the same "
                                                         "test data")] = False,
            params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """One table over all variants, multi-task vs two single-task models with a decision, the imbalance ablation;
    registers the best variant and moves the alias (champion) to it only when it beats the champion on the same
    test data (or with --force-champion)."""
    from mtst.plan import declared_order
    from mtst.steps import compare as compare_step

    settings = load_params(params, profile)
    dirs = list(eval_dir or compare_step.find_eval_dirs(eval_root))
    tracking = settings.tracking if track and settings.tracking.enabled else None
    echo_json(compare_step.run(settings.compare, dirs, out, tracking=tracking,
                               pipeline_params=read_params_dict(params, profile), pipeline_id=pipeline_id,
                               force_champion=force_champion, order=declared_order(settings)))


@user_errors
def ui(host: Annotated[str, typer.Option(help="bind address (loopback only, unless --allow-unauthenticated)")] = "127.0.0.1",
       port: Annotated[int, typer.Option(help="port")] = 5000,
       allow_unauthenticated: Annotated[bool, typer.Option(
           "--allow-unauthenticated", help="serve a non-loopback --host without a login: anyone who reaches it "
                                           "can change runs, models and the champion alias")] = False,
       params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """The MLflow UI over the project's store (the embedded SQLite store and mlartifacts/ by default); prints the
    URL of the experiment's training runs, the variants' key metrics side by side. It has no login, so it binds
    to the loopback interface unless told otherwise."""
    from mtst.tracking import ui_command
    from mtst.tracking.ui import is_loopback

    server = ui_command(load_params(params, profile).tracking, host, port, allow_unauthenticated)
    if not is_loopback(host):
        typer.echo(f"warning: serving without a login on {host}:{port} (--allow-unauthenticated): anyone who reaches "
                   "it can change runs, models and the champion alias", err=True)
    typer.echo(f"MLflow UI over {server.store}\nTraining runs: {server.url}", err=True)
    import os

    os.execve(server.command[0], server.command, server.env)
