"""The commands that use a trained model: ``embed`` sentences, ``predict`` both tasks for a file, ``export``
the model to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mtst.cli.common import ParamsOpt, ProfileOpt, echo_json, user_errors
from mtst.config import load_params


@user_errors
def embed(sentences: Annotated[list[str] | None, typer.Argument(help="sentences to embed")] = None,
          file: Annotated[Path | None, typer.Option("--file", "-f", help="text file (one a line) or CSV/JSONL/Parquet with 'text'")] = None,
          out: Annotated[Path | None, typer.Option("--out", "-o", help="write embeddings to .npy or .jsonl")] = None,
          model: Annotated[Path | None, typer.Option(help="saved mtst model or HF model dir; default all-MiniLM-L6-v2")] = None,
          batch_size: int = 64,
          force: Annotated[bool, typer.Option("--force", help="replace --out even when `mtst embed` did not write "
                                              "it (a .npy never shows its writer); never the input itself")] = False) -> None:
    """Embed sentences; for up to 10 sentences, print their cosine similarity matrix."""
    from mtst.embedding import load_encoder_model, read_sentences, save_embeddings, similarity_table, written_by_embed
    from mtst.prediction import check_output

    if out:  # before any work
        check_output(file, out, force, ours=written_by_embed, command="mtst embed")
    texts = list(sentences or []) + (read_sentences(file) if file else [])
    if not texts:
        raise typer.BadParameter("give sentences as arguments or --file")
    embeddings = load_encoder_model(model).encode(texts, batch_size=batch_size, show_progress=len(texts) > batch_size)
    if out:
        save_embeddings(embeddings, texts, out)
        typer.echo(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {out}")
    if len(texts) <= 10:
        typer.echo(similarity_table(texts, embeddings))


@user_errors
def predict(input: Annotated[Path, typer.Option("--input", "-i", help="CSV / JSONL / Parquet with a 'text' column")],
            output: Annotated[Path, typer.Option("--output", "-o", help="JSONL: both tasks' labels and probabilities")],
            model: Annotated[str | None, typer.Option("--model", "-m", help="saved model or training folder, MLflow model "
                                                      "folder, or models:/<name>@<alias>; default the champion")] = None,
            batch_size: int = 64,
            backend: Annotated[str, typer.Option(help="torch | onnx | onnx-int8 | openvino | openvino-bf16 | "
                                                 "openvino-int8: what runs a local model folder (exported on first "
                                                 "use; openvino-int8 wants an export folder from `mtst export --format "
                                                 "openvino`); an MLflow model keeps its own")] = "torch",
            force: Annotated[bool, typer.Option("--force", help="replace --output even when it is a file that "
                                                "`mtst predict` did not write (never the input itself)")] = False,
            params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Predict both tasks for every sentence of a file. An existing --output is replaced only when `mtst predict`
    wrote it, or with --force."""
    from mtst.prediction import predict_file

    settings = load_params(params, profile)
    reference = model or f"models:/{settings.compare.registered_model}@{settings.compare.alias}"
    echo_json(predict_file(reference, input, output, batch_size, settings.tracking, backend=backend, force=force))


@user_errors
def export(model: Annotated[Path, typer.Option("--model", "-m", help="saved model folder or training folder")],
           out: Annotated[Path, typer.Option("--out", "-o", help="export folder (written atomically, replaced as a whole)")],
           format: Annotated[str, typer.Option("--format", help="onnx, or openvino (with --int8: NNCF's int8 graph, "
                                               "an OpenVINO IR)")] = "onnx",
           int8: Annotated[bool, typer.Option("--int8", help="int8 weights and int8 matrix products in the encoder "
                                              "(onnx: ONNX Runtime's dynamic quantisation; openvino: NNCF's static "
                                              "quantisation, calibrated)")] = False,
           calibration: Annotated[Path | None, typer.Option(help="with --format openvino: sentences the int8 graph "
                                                            "measures its activation ranges on (text file, one a line, "
                                                            "or CSV / JSONL / Parquet with 'text'): a few hundred of "
                                                            "your validation sentences, the first 320 used")] = None) -> None:
    """The whole model (encoder, pooling, every head) as one graph, checked against torch before it is written.
    `--format onnx`: run it with a backend of `onnx`, `openvino` or `openvino-bf16` (`onnx-int8` after --int8);
    `--format openvino --int8 --calibration FILE`: with `openvino-int8`."""
    from mtst.evaluation.speed import dir_size_mb
    from mtst.locking import folder_lock

    with folder_lock(out, "export folder"):  # a second export to --out fails now, not after its work
        config, runtime = _export(model, out, format, int8, calibration)
    from mtst.backends import backend_running
    from mtst.export.layout import export_kind

    echo_json({"out": str(out), "format": format, "backend": backend_running(runtime, export_kind(config)),
               "size_mb": round(dir_size_mb(out), 1), "quantisation": config["quantisation"],
               "fused_operators": config["fused_operators"], "parity": config["parity"]})


def _export(model: Path, out: Path, format: str, int8: bool, calibration: Path | None) -> tuple[dict[str, Any], str]:
    """The export the options ask for, written to ``out``: its config and the runtime that runs it."""
    if format not in ("onnx", "openvino"):
        raise typer.BadParameter(f"{format!r} is not a supported format; use onnx or openvino", param_hint="--format")
    if format == "openvino":
        if not int8 or calibration is None:
            raise typer.BadParameter("openvino is the int8 format (give --int8 and --calibration FILE); the fp32 "
                                     "and bf16 OpenVINO backends run the onnx export", param_hint="--format")
        from mtst.embedding import read_sentences
        from mtst.export.backend import cached_export
        from mtst.export.onnx_export import resolve_model_dir
        from mtst.export.openvino_int8 import CALIBRATION_SENTENCES, quantise_openvino

        texts = read_sentences(calibration)[:CALIBRATION_SENTENCES]
        config = quantise_openvino(cached_export(resolve_model_dir(model), "fp32"), out, texts)
        runtime = "openvino"
    else:
        if calibration is not None:
            raise typer.BadParameter("--calibration is for --format openvino --int8 (ONNX Runtime's int8 is "
                                     "dynamic: it needs none)", param_hint="--calibration")
        from mtst.export.onnx_export import export_onnx

        config = export_onnx(model, out, int8=int8)
        runtime = "onnxruntime"
    return config, runtime
