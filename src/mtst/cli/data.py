"""The data commands: ``mtst data fetch|prepare``, ``validate``, ``augment`` and ``mtst wordnet`` (the corpus
augmentation needs): everything that happens to the datasets before training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtst.dag import LAYOUT
from mtst.cli.common import ParamsOpt, PipelineIdOpt, ProfileOpt, TrackOpt, echo_json, user_errors
from mtst.config import load_params, read_params_dict
from mtst.tasks import TASK_NAMES

data_app = typer.Typer(no_args_is_help=True, help="Materialise and split the datasets.")
wordnet_app = typer.Typer(no_args_is_help=True, help="WordNet (Debian wordnet-base) for synonym augmentation.")


@data_app.command("fetch")
@user_errors
def data_fetch(out: Annotated[Path, typer.Option(help="output folder (tracked by data.dvc)")] = Path(LAYOUT.data),
               params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Build both task datasets with fixed splits from the pinned sources (or your files) into data/."""
    from mtst.steps import fetch

    echo_json(fetch.run(load_params(params, profile).data, out))


@data_app.command("prepare")
@user_errors
def data_prepare(data_dir: Annotated[Path, typer.Option()] = Path(LAYOUT.data),
                 out: Annotated[Path, typer.Option()] = Path(LAYOUT.splits),
                 params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Write per-task split files with the profile's limits (the scarce Task B training set)."""
    from mtst.steps import prepare

    echo_json(prepare.run(load_params(params, profile).prepare, data_dir, out))


@user_errors
def validate(splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path(LAYOUT.splits),
             data_dir: Annotated[Path, typer.Option(help="raw datasets from `mtst data fetch`")] = Path(LAYOUT.data),
             augmented: Annotated[Path | None, typer.Option(help="also check `mtst augment`'s output")] = None,
             out: Annotated[Path | None, typer.Option(help="report + Data Docs; default artifacts/validation "
                                                     "(none with --file)")] = None,
             file: Annotated[list[Path] | None, typer.Option("--file", "-f", help="check your own CSV / JSONL / "
                                                            "Parquet file(s) instead of the pipeline's")] = None,
             task: Annotated[str | None, typer.Option(help="task_a | task_b: the label set --file is checked "
                                                      "against")] = None,
             raw: Annotated[bool, typer.Option("--raw/--no-raw", help="check the raw datasets in --data-dir")] = True,
             track: TrackOpt = True, pipeline_id: PipelineIdOpt = None,
             params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Great Expectations checks (one GX Checkpoint, Data Docs in <out>/data_docs); exit 2 with a summary on failure.
    A passing check of the pipeline's data is logged on the pipeline's MLflow parent run (not a --file check)."""
    from mtst.steps import validate as validate_step

    config = load_params(params, profile)
    if file:
        if task not in TASK_NAMES:
            raise typer.BadParameter("--file needs --task task_a or --task task_b", param_hint="--task")
        report = validate_step.run_files(config.validate, list(file), task, out)
    else:
        tracking = config.tracking if track and config.tracking.enabled else None
        report = validate_step.run(config.validate, splits, out or Path(LAYOUT.validation), data_dir if raw else None,
                                   augmented, tracking=tracking, pipeline_params=read_params_dict(params, profile),
                                   pipeline_id=pipeline_id)
    echo_json({"success": report["success"], "files": report["files"], "expectations": report["expectations"],
               "warnings": [f"{w['file']}: [{w['rule']}] {w['count']} rows" if w["count"] is not None
                            else f"{w['file']}: [{w['rule']}] {w['detail']}" for w in report["warnings"]],
               "data_docs": report.get("data_docs"), "seconds": report["seconds"],
               **({"mlflow_parent_run_id": report["mlflow"]["parent_run_id"]} if "mlflow" in report else {})})


@user_errors
def augment(splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path(LAYOUT.splits),
            out: Annotated[Path, typer.Option(help="writes <out>/task_b/train.jsonl and summary.json")] = Path(LAYOUT.augmented),
            progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="progress bar "
                                                          "(default: on a terminal)")] = None,
            params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """EDA augmentation of the Task B training split (validation and test untouched)."""
    from mtst.steps import augment as augment_step

    summary = augment_step.run(load_params(params, profile).augment, splits, out, progress=progress)
    echo_json({k: summary[k] for k in ("source_rows", "augmented_rows", "total_rows", "operations")})


@wordnet_app.command("install")
@user_errors
def wordnet_install(root: Annotated[Path | None, typer.Option(help="nltk data root; default $NLTK_DATA or "
                                                              ".cache/nltk_data")] = None,
                    apt: Annotated[bool, typer.Option("--apt/--no-apt", help="apt-get install the Debian packages "
                                                      "if they are missing")] = True,
                    force: Annotated[bool, typer.Option("--force", help="copy again even if complete")] = False) -> None:
    """Lay the Debian WordNet out for nltk in <root>/corpora/wordnet/ (a no-op when already complete)."""
    from mtst.augment.wordnet import install

    echo_json(install(root, apt=apt, force=force))


@wordnet_app.command("check")
def wordnet_check() -> None:
    """Say where WordNet was looked for and whether a complete copy was found (exit 1 if not)."""
    from mtst.augment.wordnet import status

    info = status()
    echo_json(info)
    if info["found"] is None:
        raise typer.Exit(1)
