"""The ``mtst`` command. Each command parses its own params.yaml section and calls one library function;
no computation lives here."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mtst.config import load_params, read_params_dict

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
data_app = typer.Typer(no_args_is_help=True, help="Materialise and split the datasets.")
params_app = typer.Typer(no_args_is_help=True, help="Inspect and switch parameter profiles.")
app.add_typer(data_app, name="data")
app.add_typer(params_app, name="params")

ParamsOpt = Annotated[Path, typer.Option("--params", help="params.yaml to read")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="overlay profiles/<name>.yaml (smoke, default, full)")]

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn expected user-facing failures into a one-paragraph message and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mtst.errors import USER_ERRORS

        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True))


@data_app.command("fetch")
@user_errors
def data_fetch(out: Annotated[Path, typer.Option(help="output folder (tracked by data.dvc)")] = Path("data"),
               params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Build both task datasets with fixed splits from the pinned sources (or your files) into data/."""
    from mtst.steps import fetch

    echo_json(fetch.run(load_params(params, profile).data, out))


@data_app.command("prepare")
@user_errors
def data_prepare(data_dir: Annotated[Path, typer.Option()] = Path("data"),
                 out: Annotated[Path, typer.Option()] = Path("artifacts/splits"),
                 params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Write per-task split files with the profile's limits (the scarce Task B training set)."""
    from mtst.steps import prepare

    echo_json(prepare.run(load_params(params, profile).prepare, data_dir, out))


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
    echo_json(read_params_dict(params, profile))


@app.command("embed")
@user_errors
def embed(sentences: Annotated[list[str] | None, typer.Argument(help="sentences to embed")] = None,
          file: Annotated[Path | None, typer.Option("--file", "-f", help="text file (one a line) or CSV/JSONL/Parquet with 'text'")] = None,
          out: Annotated[Path | None, typer.Option("--out", "-o", help="write embeddings to .npy or .jsonl")] = None,
          model: Annotated[Path | None, typer.Option(help="saved mtst model or HF model dir; default all-MiniLM-L6-v2")] = None,
          batch_size: int = 64) -> None:
    """Embed sentences; for up to 10 sentences, print their cosine similarity matrix."""
    from mtst.embedding import load_encoder_model, read_sentences, save_embeddings, similarity_table

    texts = list(sentences or []) + (read_sentences(file) if file else [])
    if not texts:
        raise typer.BadParameter("give sentences as arguments or --file")
    embeddings = load_encoder_model(model).encode(texts, batch_size=batch_size, show_progress=len(texts) > batch_size)
    if out:
        save_embeddings(embeddings, texts, out)
        typer.echo(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {out}")
    if len(texts) <= 10:
        typer.echo(similarity_table(texts, embeddings))


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="mtst")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
