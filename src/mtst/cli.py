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
            from mtst.redaction import redact_text

            typer.secho(f"error: {redact_text(str(exc))}", fg=typer.colors.RED, err=True)
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


@app.command("train")
@user_errors
def train(variant: Annotated[str, typer.Option("--variant", "-v", help="a variant of params.yaml train.variants")],
          splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path("artifacts/splits"),
          augmented: Annotated[Path | None, typer.Option(help="output of `mtst augment`")] = Path("artifacts/augmented"),
          out: Annotated[Path | None, typer.Option(help="default artifacts/train/<variant>")] = None,
          init_from: Annotated[Path | None, typer.Option(help="model dir for variants with init_from")] = None,
          checkpoints: Annotated[Path | None, typer.Option(help="default artifacts/train/.checkpoints/<variant>")] = None,
          resume: Annotated[bool, typer.Option("--resume", help="continue from the last checkpoint")] = False,
          params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Train one freeze variant (stages, sampling, loss weighting and curriculum from params.yaml)."""
    from mtst.steps import train as train_step
    from mtst.training.distributed import Distributed

    config = load_params(params, profile)
    if config.tracking.enabled:  # an unreachable tracking server fails now, not after training
        from mtst.tracking import preflight

        preflight(config.tracking)
    dist = Distributed.from_env()
    try:
        summary = train_step.run(config, variant, splits, out, augmented, init_from, checkpoints, resume, dist=dist)
    finally:
        dist.close()
    if dist.is_main:
        echo_json({k: summary[k] for k in ("variant", "wall_s", "steps", "train_rows", "validation")})


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


# --- mtst kfp: the same DAG as a Kubeflow pipeline (logic in mtst.kfp; wiring in components/, pipelines/) ---
kfp_app = typer.Typer(no_args_is_help=True, help="Kubeflow Pipelines: compile, run locally, submit to a cluster.")
app.add_typer(kfp_app, name="kfp")
VariantsOpt = Annotated[list[str] | None, typer.Option("--variant", help="train only these variants (repeatable); default all")]
ImageOpt = Annotated[str | None, typer.Option(help="components' image (default $MTST_KFP_IMAGE or mtst:<version>-cuda)")]
AcceleratorTypeOpt = Annotated[str | None, typer.Option(help="training GPU resource, default nvidia.com/gpu")]
AcceleratorCountOpt = Annotated[int | None, typer.Option(min=0, help="GPUs per training task, default 1")]
TrainNprocOpt = Annotated[int | None, typer.Option(min=1, help="training processes per task (torchrun when > 1), default 1")]
CheckpointPvcOpt = Annotated[str | None, typer.Option(help="PersistentVolumeClaim mounted on training tasks for the "
                                                             "checkpoints a retried task resumes from")]


@kfp_app.command("compile")
@user_errors
def kfp_compile(out: Annotated[Path, typer.Option(help="pipeline YAML to write")] = Path("artifacts/kfp/pipeline.yaml"),
                image: ImageOpt = None, variant: VariantsOpt = None, accelerator_type: AcceleratorTypeOpt = None,
                accelerator_count: AcceleratorCountOpt = None, train_nproc: TrainNprocOpt = None,
                checkpoint_pvc: CheckpointPvcOpt = None,
                params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Compile the pipeline YAML; the params (+ profile) become its parameter defaults."""
    from mtst.kfp.pipeline import compile_pipeline

    echo_json(compile_pipeline(out, params_path=params, profile=profile, variants=variant, image=image,
                               accelerator_type=accelerator_type, accelerator_count=accelerator_count,
                               train_nproc=train_nproc, checkpoint_pvc=checkpoint_pvc))


@kfp_app.command("run-local")
@user_errors
def kfp_run_local(root: Annotated[Path, typer.Option(help="pipeline root for the tasks' outputs")] = Path("artifacts/kfp-local"),
                  variant: VariantsOpt = None,
                  cache: Annotated[bool, typer.Option("--cache/--no-cache", help="reuse outputs of identical tasks")] = False,
                  parallelism: Annotated[int, typer.Option(min=1, help="variants trained at once (kfp.local caps it at 2)")] = 1,
                  runner: Annotated[str, typer.Option(help="subprocess (this venv's Python) | docker (every task in "
                                                           "the components' image: make image)")] = "subprocess",
                  image: Annotated[str | None, typer.Option(help="with --runner docker: the image (default mtst:<version>-cpu)")] = None,
                  params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Run the pipeline here with kfp.local: SubprocessRunner (offline, no containers) or DockerRunner."""
    from mtst.kfp.local import LocalRunError, run_local

    try:
        echo_json(run_local(params_path=params, profile=profile, variants=variant, root=root, cache=cache,
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
               token: Annotated[str | None, typer.Option(envvar="MTST_KFP_TOKEN", help="bearer token for the KFP API")] = None,
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
    from mtst.kfp.submit import SUBMIT_ERRORS, submit
    from mtst.redaction import redact_text

    try:
        echo_json(submit(host, params_path=params, profile=profile, variants=variant, experiment=experiment,
                         run_name=run_name, pipeline_name=pipeline_name, version=version, namespace=namespace,
                         token=token, image=image, package=package, service_account=service_account,
                         enable_caching=caching, accelerator_type=accelerator_type,
                         accelerator_count=accelerator_count, train_nproc=train_nproc,
                         checkpoint_pvc=checkpoint_pvc, ssl_ca_cert=ssl_ca_cert,
                         timeout=timeout))
    except SUBMIT_ERRORS as exc:
        typer.secho(redact_text(f"error: KFP API at {host}: {str(exc).strip()[:2000]}"), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@app.command("validate")
@user_errors
def validate(splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path("artifacts/splits"),
             data_dir: Annotated[Path, typer.Option(help="raw datasets from `mtst data fetch`")] = Path("data"),
             augmented: Annotated[Path | None, typer.Option(help="also check `mtst augment`'s output")] = None,
             out: Annotated[Path | None, typer.Option(help="report + Data Docs; default artifacts/validation "
                                                     "(none with --file)")] = None,
             file: Annotated[list[Path] | None, typer.Option("--file", "-f", help="check your own CSV / JSONL / "
                                                            "Parquet file(s) instead of the pipeline's")] = None,
             task: Annotated[str | None, typer.Option(help="task_a | task_b: the label set --file is checked "
                                                      "against")] = None,
             raw: Annotated[bool, typer.Option("--raw/--no-raw", help="check the raw datasets in --data-dir")] = True,
             params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Great Expectations checks (one GX Checkpoint, Data Docs in <out>/data_docs); exit 2 with a summary on failure."""
    from mtst.steps import validate as validate_step

    settings = load_params(params, profile).validate
    if file:
        if task not in ("task_a", "task_b"):
            raise typer.BadParameter("--file needs --task task_a or --task task_b", param_hint="--task")
        report = validate_step.run_files(settings, list(file), task, out)
    else:
        report = validate_step.run(settings, splits, out or Path("artifacts/validation"), data_dir if raw else None,
                                   augmented)
    echo_json({"success": report["success"], "files": report["files"], "expectations": report["expectations"],
               "warnings": [f"{w['file']}: [{w['rule']}] {w['count']} rows" if w["count"] is not None
                            else f"{w['file']}: [{w['rule']}] {w['detail']}" for w in report["warnings"]],
               "data_docs": report.get("data_docs"), "seconds": report["seconds"]})


@app.command("augment")
@user_errors
def augment(splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path("artifacts/splits"),
            out: Annotated[Path, typer.Option(help="writes <out>/task_b/train.jsonl and summary.json")] = Path("artifacts/augmented"),
            progress: Annotated[bool | None, typer.Option("--progress/--no-progress", help="progress bar "
                                                          "(default: on a terminal)")] = None,
            params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """EDA augmentation of the Task B training split (validation and test untouched)."""
    from mtst.steps import augment as augment_step

    summary = augment_step.run(load_params(params, profile).augment, splits, out, progress=progress)
    echo_json({k: summary[k] for k in ("source_rows", "augmented_rows", "total_rows", "operations")})


wordnet_app = typer.Typer(no_args_is_help=True, help="WordNet (Debian wordnet-base) for synonym augmentation.")
app.add_typer(wordnet_app, name="wordnet")


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


TrackOpt = Annotated[bool, typer.Option("--track/--no-track", help="log to MLflow (params.yaml tracking.enabled)")]


@app.command("evaluate")
@user_errors
def evaluate(variant: Annotated[str | None, typer.Option("--variant", "-v", help="evaluate artifacts/train/<variant>")] = None,
             train_dir: Annotated[Path | None, typer.Option(help="a training folder; default artifacts/train/<variant>")] = None,
             splits: Annotated[Path, typer.Option(help="split files from `mtst data prepare`")] = Path("artifacts/splits"),
             out: Annotated[Path | None, typer.Option(help="default artifacts/eval/<variant>")] = None,
             metrics: Annotated[Path | None, typer.Option(help="DVC metrics file; default metrics/<variant>.json")] = None,
             validation: Annotated[Path, typer.Option(help="validation report + Data Docs, logged once on the parent "
                                                      "run")] = Path("artifacts/validation"),
             track: TrackOpt = True, params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Test-set metrics (macro-F1, per class, per domain, calibration), confusion matrices, throughput and size
    of one variant; logs the variant's MLflow child run with its stages and the pyfunc model."""
    from mtst.steps import evaluate as evaluate_step

    if not variant and not train_dir:
        raise typer.BadParameter("give --variant NAME or --train-dir DIR", param_hint="--variant")
    settings = load_params(params, profile)
    name = variant or Path(train_dir).name  # type: ignore[arg-type]
    tracking = settings.tracking if track and settings.tracking.enabled else None
    result = evaluate_step.run(settings.evaluate, train_dir or Path("artifacts/train") / name, splits,
                               out or Path("artifacts/eval") / name, metrics_path=metrics or Path("metrics") / f"{name}.json",
                               tracking=tracking, validation_dir=validation if validation.is_dir() else None,
                               pipeline_params=read_params_dict(params, profile))
    keys = ("task_a.macro_f1", "task_b.macro_f1", "mean_macro_f1", "task_a.ece", "task_b.ece",
            "inference.sentences_per_s", "model.parameters", "model.size_mb")
    shown: dict[str, Any] = {k: result[k] for k in keys if k in result}
    if "mlflow" in result:
        shown["mlflow_run_id"] = result["mlflow"]["run_id"]
        shown["mlflow_parent_run_id"] = result["mlflow"]["parent_run_id"]
    echo_json({"variant": name, **shown})


@app.command("compare")
@user_errors
def compare(eval_dir: Annotated[list[Path] | None, typer.Option("--eval-dir", help="evaluation folder(s); default "
                                                                "every <eval-root>/<variant>")] = None,
            eval_root: Annotated[Path, typer.Option(help="where `mtst evaluate` wrote")] = Path("artifacts/eval"),
            out: Annotated[Path, typer.Option(help="comparison.md, comparison.png, comparison.json")] = Path("reports"),
            track: TrackOpt = True,
            force_champion: Annotated[bool, typer.Option("--force-champion", help="move the alias to this run's best "
                                                         "variant even if it does not beat the champion on the same "
                                                         "test data")] = False,
            params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """One table over all variants, multi-task vs two single-task models with a decision, the imbalance ablation;
    registers the best variant and moves the alias (champion) to it only when it beats the champion on the same
    test data (or with --force-champion)."""
    from mtst.steps import compare as compare_step

    settings = load_params(params, profile)
    dirs = list(eval_dir or compare_step.find_eval_dirs(eval_root))
    tracking = settings.tracking if track and settings.tracking.enabled else None
    echo_json(compare_step.run(settings.compare, dirs, out, tracking=tracking,
                               pipeline_params=read_params_dict(params, profile), force_champion=force_champion))


@app.command("predict")
@user_errors
def predict(input: Annotated[Path, typer.Option("--input", "-i", help="CSV / JSONL / Parquet with a 'text' column")],
            output: Annotated[Path, typer.Option("--output", "-o", help="JSONL: both tasks' labels and probabilities")],
            model: Annotated[str | None, typer.Option("--model", "-m", help="saved model or training folder, MLflow model "
                                                      "folder, or models:/<name>@<alias>; default the champion")] = None,
            batch_size: int = 64, params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """Predict both tasks for every sentence of a file."""
    from mtst.prediction import predict_file

    settings = load_params(params, profile)
    reference = model or f"models:/{settings.compare.registered_model}@{settings.compare.alias}"
    echo_json(predict_file(reference, input, output, batch_size, settings.tracking))


@app.command("export")
@user_errors
def export(model: Annotated[Path, typer.Option("--model", "-m", help="saved model folder or training folder")],
           out: Annotated[Path, typer.Option("--out", "-o", help="export folder (written atomically, replaced as a whole)")],
           format: Annotated[str, typer.Option("--format", help="export format: onnx")] = "onnx",
           int8: Annotated[bool, typer.Option("--int8", help="int8 weights and int8 matrix products in the encoder "
                                              "(ONNX Runtime MatMulNBits)")] = False) -> None:
    """The whole model (encoder, pooling, every head) as one ONNX graph for ONNX Runtime, checked against torch
    before it is written; run it with a backend of `onnx` (or `onnx-int8` after --int8)."""
    from mtst.evaluation.speed import dir_size_mb
    from mtst.export.onnx_export import export_onnx

    if format != "onnx":
        raise typer.BadParameter(f"{format!r} is not a supported format; use onnx", param_hint="--format")
    config = export_onnx(model, out, int8=int8)
    echo_json({"out": str(out), "format": format, "backend": "onnx-int8" if int8 else "onnx",
               "size_mb": round(dir_size_mb(out), 1), "quantisation": config["quantisation"],
               "fused_operators": config["fused_operators"], "parity": config["parity"]})


@app.command("ui")
@user_errors
def ui(host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
       port: Annotated[int, typer.Option(help="port")] = 5000,
       params: ParamsOpt = Path("params.yaml"), profile: ProfileOpt = None) -> None:
    """The MLflow UI over the project's store (the embedded SQLite store and mlartifacts/ by default)."""
    from mtst.tracking import ui_command

    command, env = ui_command(load_params(params, profile).tracking, host, port)
    typer.echo(f"MLflow UI on http://{host}:{port} over {command[command.index('--backend-store-uri') + 1]}", err=True)
    import os

    os.execve(command[0], command, env)


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="mtst")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
