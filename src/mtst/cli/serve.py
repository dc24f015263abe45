"""``mtst serve``: a model over the Open Inference Protocol (v2), run by MLServer (``mtst.serve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtst.cli.common import ParamsOpt, ProfileOpt, user_errors
from mtst.config import load_params


@user_errors
def serve(model: Annotated[str | None, typer.Option("--model", "-m", help="models:/<name>@<alias> or models:/<name>/"
                                                    "<version> (its files checked against the digest recorded at "
                                                    "registration), or a saved model / training / export / MLflow "
                                                    "model folder; default the champion")] = None,
          backend: Annotated[str | None, typer.Option(help="onnx | onnx-int8 | openvino | openvino-bf16 | "
                                                      "openvino-int8 (default serve.backend)")] = None,
          host: Annotated[str | None, typer.Option(help="address to listen on (default serve.host)")] = None,
          port: Annotated[int | None, typer.Option(help="HTTP port (default serve.port)")] = None,
          grpc_port: Annotated[int | None, typer.Option(help="gRPC port (default serve.grpc_port)")] = None,
          metrics_port: Annotated[int | None, typer.Option(help="Prometheus port (default serve.metrics_port)")] = None,
          out: Annotated[Path | None, typer.Option(help="MLServer's folder (default artifacts/serving/<name>)")] = None,
          params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Serve a model over the Open Inference Protocol (v2 REST and gRPC) with adaptive batching, Prometheus
    metrics and request limits (params.yaml's serve section); runs until interrupted."""
    from mtst.serve.launch import mlserver, prepare, start, with_options

    settings = with_options(load_params(params, profile), backend=backend, host=host, port=port,
                            grpc_port=grpc_port, metrics_port=metrics_port)
    mlserver()  # the serving environment exists, before any work
    prepared = prepare(model or f"models:/{settings.compare.registered_model}@{settings.compare.alias}", settings, out)
    typer.echo(f"mtst serve: {prepared.model}{f' (version {prepared.version})' if prepared.version else ''}, "
               f"backend {prepared.backend}, from {prepared.folder}")
    typer.echo(f"  {prepared.url}/v2/models/{prepared.name}   metrics: http://{settings.serve.host}:"
               f"{settings.serve.metrics_port}/metrics")
    typer.echo(f"  {prepared.curl()}")
    start(prepared)
