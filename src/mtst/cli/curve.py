"""``mtst curve``: the Task B learning curve (params.yaml ``curve``), resumable: finished points are skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtst.dag import LAYOUT
from mtst.cli.common import ParamsOpt, ProfileOpt, echo_json, user_errors


def _size(text: str) -> int | None:
    if text.strip().lower() in ("all", "null", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a row count or 'all'", param_hint="--sizes") from None


@user_errors
def curve(sizes: Annotated[list[str] | None, typer.Option("--sizes", help="Task B training rows (repeat the option; "
                                                         "'all' = every row); default curve.sizes")] = None,
          seeds: Annotated[list[int] | None, typer.Option("--seeds", help="default curve.seeds")] = None,
          variants: Annotated[list[str] | None, typer.Option("--variants", help="default curve.variants")] = None,
          lr_scales: Annotated[list[float] | None, typer.Option("--lr-scales", help="the tuning budget (repeat the "
                                                               "option); default curve.lr_scales")] = None,
          tune_on: Annotated[str | None, typer.Option("--tune-on", help="every_seed | first_seed; default "
                                                     "curve.tune_on")] = None,
          data: Annotated[Path, typer.Option(help="datasets from `mtst data fetch`")] = Path(LAYOUT.data),
          root: Annotated[Path, typer.Option(help="where the points train and evaluate")] = Path(LAYOUT.curve_root),
          out: Annotated[Path | None, typer.Option(help="report folder; default curve.out")] = None,
          track: Annotated[bool, typer.Option("--track/--no-track", help="log to MLflow (tracking.enabled)")] = True,
          params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Train every curve variant at every Task B size and seed, then write learning_curve.{md,png,json}."""
    from mtst.config import ConfigError, CurveParams, load_params
    from mtst.curve import run

    settings = load_params(params, profile)
    update = {k: v for k, v in (("sizes", [_size(s) for s in sizes] if sizes else None), ("seeds", seeds),
                                ("variants", variants), ("lr_scales", lr_scales), ("tune_on", tune_on)) if v}
    try:
        curve_params = CurveParams.model_validate({**settings.curve.model_dump(), **update})
    except ValueError as exc:
        raise ConfigError(f"mtst curve options: {exc}") from None
    settings = settings.model_copy(update={
        "curve": curve_params,
        "tracking": settings.tracking.model_copy(update={"enabled": settings.tracking.enabled and track})})
    result = run(settings, data, root, out)
    echo_json({k: result[k] for k in ("paragraph", "skipped", "files", "mlflow_run_id")}
              | {"points": len(result["points"])})
