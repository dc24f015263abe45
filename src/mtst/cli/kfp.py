"""``mtst kfp``: the same DAG as a Kubeflow pipeline (logic in mtst.kfp; wiring in components/, pipelines/).
The CLI is the one place that joins them: it hands the wiring's pipeline builder to the mtst.kfp functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mtst.dag import LAYOUT
from mtst.cli.common import ParamsOpt, ProfileOpt, echo_json, user_errors

kfp_app = typer.Typer(no_args_is_help=True, help="Kubeflow Pipelines: compile, run locally, submit to a cluster.")
VariantsOpt = Annotated[list[str] | None, typer.Option("--variant", help="train only these variants (repeatable); default all")]
ImageOpt = Annotated[str | None, typer.Option(help="components' image (default $MTST_KFP_IMAGE or mtst:<version>-cuda)")]
AcceleratorTypeOpt = Annotated[str | None, typer.Option(help="training GPU resource, default nvidia.com/gpu")]
AcceleratorCountOpt = Annotated[int | None, typer.Option(min=0, help="GPUs per training task, default 1")]
TrainNprocOpt = Annotated[int | None, typer.Option(min=1, help="training processes per task (torchrun when > 1), default 1")]
CheckpointPvcOpt = Annotated[str | None, typer.Option(help="PersistentVolumeClaim mounted on training tasks for the "
                                                             "checkpoints a retried task resumes from")]


@kfp_app.command("compile")
@user_errors
def kfp_compile(out: Annotated[Path, typer.Option(help="pipeline YAML to write")] = Path(LAYOUT.kfp_package),
                image: ImageOpt = None, variant: VariantsOpt = None, accelerator_type: AcceleratorTypeOpt = None,
                accelerator_count: AcceleratorCountOpt = None, train_nproc: TrainNprocOpt = None,
                checkpoint_pvc: CheckpointPvcOpt = None,
                params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Compile the pipeline YAML; the params (+ profile) become its parameter defaults."""
    from mtst.kfp.pipeline import compile_pipeline
    from pipelines.multitask_pipeline import build_pipeline

    echo_json(compile_pipeline(build_pipeline, out, params_path=params, profile=profile, variants=variant, image=image,
                               accelerator_type=accelerator_type, accelerator_count=accelerator_count,
                               train_nproc=train_nproc, checkpoint_pvc=checkpoint_pvc))


@kfp_app.command("run-local")
@user_errors
def kfp_run_local(root: Annotated[Path, typer.Option(help="pipeline root for the tasks' outputs")] = Path(LAYOUT.kfp_local_root),
                  variant: VariantsOpt = None,
                  cache: Annotated[bool, typer.Option("--cache/--no-cache", help="reuse outputs of identical tasks")] = False,
                  parallelism: Annotated[int, typer.Option(min=1, help="variants trained at once (kfp.local caps it at 2)")] = 1,
                  runner: Annotated[str, typer.Option(help="subprocess (this venv's Python) | docker (every task in "
                                                           "the components' image: make image)")] = "subprocess",
                  image: Annotated[str | None, typer.Option(help="with --runner docker: the image (default mtst:<version>-cpu)")] = None,
                  params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Run the pipeline here with kfp.local: SubprocessRunner (offline, no containers) or DockerRunner."""
    from mtst.kfp.local import LocalRunError, run_local
    from pipelines.multitask_pipeline import build_pipeline

    try:
        echo_json(run_local(build_pipeline, params_path=params, profile=profile, variants=variant, root=root, cache=cache,
                            parallelism=parallelism, runner=runner, image=image))
    except LocalRunError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


@kfp_app.command("submit")
@user_errors
def kfp_submit(host: Annotated[str, typer.Option(envvar="KF_PIPELINES_ENDPOINT", help="KFP API endpoint, e.g. http://localhost:8080")],
               experiment: Annotated[str, typer.Option(help="experiment (created if missing)")] = "mtst",
               run_name: Annotated[str | None, typer.Option(help="run name; default pipeline, profile and time")] = None,
               pipeline_name: Annotated[str | None, typer.Option(help="upload as this pipeline (or a new version of it) and run that")] = None,
               version: Annotated[str | None, typer.Option(help="name of the uploaded version; default time + package hash")] = None,
               namespace: Annotated[str | None, typer.Option(help="Kubeflow profile namespace (multi-user)")] = None,
               token: Annotated[str | None, typer.Option(help="bearer token for the KFP API (default $MTST_KFP_TOKEN)")] = None,
               service_account: Annotated[str | None, typer.Option(help="Kubernetes service account of the run")] = None,
               caching: Annotated[bool | None, typer.Option("--caching/--no-caching", help="override the tasks' caching for this run")] = None,
               package: Annotated[Path | None, typer.Option(help="also keep the compiled YAML here")] = None,
               ssl_ca_cert: Annotated[Path | None, typer.Option(help="CA bundle (PEM) that signed the API's TLS certificate")] = None,
               timeout: Annotated[float, typer.Option(min=1, help="seconds each API request may take")] = 60.0,
               image: ImageOpt = None, variant: VariantsOpt = None, accelerator_type: AcceleratorTypeOpt = None,
               accelerator_count: AcceleratorCountOpt = None, train_nproc: TrainNprocOpt = None,
               checkpoint_pvc: CheckpointPvcOpt = None,
               params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Compile and submit a run with kfp.Client (optionally uploading the pipeline as a version)."""
    from mtst.environment import Environment
    from mtst.kfp.submit import SUBMIT_ERRORS, submit
    from mtst.redaction import redact_text
    from pipelines.multitask_pipeline import build_pipeline

    if token is None and (secret := Environment.current().kfp_token) is not None:
        token = secret.get_secret_value()
    try:
        echo_json(submit(build_pipeline, host, params_path=params, profile=profile, variants=variant, experiment=experiment,
                         run_name=run_name, pipeline_name=pipeline_name, version=version, namespace=namespace,
                         token=token, image=image, package=package, service_account=service_account,
                         enable_caching=caching, accelerator_type=accelerator_type,
                         accelerator_count=accelerator_count, train_nproc=train_nproc,
                         checkpoint_pvc=checkpoint_pvc, ssl_ca_cert=ssl_ca_cert,
                         timeout=timeout))
    except SUBMIT_ERRORS as exc:
        typer.secho(redact_text(f"error: KFP API at {host}: {str(exc).strip()[:2000]}"), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
