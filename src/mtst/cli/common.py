"""What every ``mtst`` command shares: the --params/--profile options, the tracking options of the steps that
record to MLflow (--track, --pipeline-id), the user-error exit and the JSON output, so that each command module
holds only its own commands."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mtst.environment import env_name

ParamsOpt = Annotated[Path, typer.Option("--params", help="params.yaml to read")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="overlay profiles/<name>.yaml (smoke, default, full)")]
TrackOpt = Annotated[bool, typer.Option("--track/--no-track", help="log to MLflow (params.yaml tracking.enabled)")]
# The pipeline run's identity, the one place MTST_PIPELINE_ID (mtst.environment) is read: DVC users export it to group the steps of
# one pipeline run under their own id; the steps themselves take it as the explicit ``pipeline_id``.
PipelineIdOpt = Annotated[str | None, typer.Option(
    "--pipeline-id", envvar=env_name("pipeline_id"), help="the pipeline run whose MLflow parent run this step logs "
    "under; default: git commit + data hash + params hash")]

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn expected user-facing failures into a one-paragraph message and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mtst.errors import USER_ERRORS

        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            from mtst.redaction import redact_text

            typer.secho(f"error: {redact_text(str(exc))}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def echo_json(obj: Any) -> None:
    """Print a command's result as sorted, indented JSON: stable for people to read and scripts to parse."""
    typer.echo(json.dumps(obj, indent=2, sort_keys=True))
