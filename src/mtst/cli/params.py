"""``mtst params``: inspect the effective parameters and switch profiles."""

from __future__ import annotations

from pathlib import Path

import typer

from mtst.cli.common import ParamsOpt, ProfileOpt, echo_json, user_errors
from mtst.config import read_params_dict

params_app = typer.Typer(no_args_is_help=True, help="Inspect and switch parameter profiles.")


@params_app.command("use")
@user_errors
def params_use(profile: str, params: ParamsOpt = Path("params.yaml")) -> None:
    """Merge profiles/<profile>.yaml into params.yaml, so DVC tracks the profile's values."""
    from mtst.config import write_profile

    write_profile(params, profile)
    typer.echo(f"{params}: now the {profile!r} profile")


@params_app.command("show")
def params_show(params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Print the effective parameters."""
    from mtst.redaction import redact_params

    echo_json(redact_params(read_params_dict(params, profile)))
