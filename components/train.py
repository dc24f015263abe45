"""``train``: one freeze variant. ``collect_init_models``: the models that follow-up variants start from."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def train(train_params: dict, variant: str, splits: Input[Dataset], augmented: Input[Dataset], model: Output[Model],
          metrics: Output[Metrics], init_from: str = "", init_models: Input[Model] = None, nproc: int = 1,
          checkpoint_root: str = "", pipeline_run_id: str = ""):
    """Run mtst.steps.train for ``variant``: the Model artifact is the train folder (model/, history.jsonl,
    stages.json, train_summary.json). A follow-up variant gets ``init_from`` (its source variant) and
    ``init_models`` (<source>/model folders). ``nproc`` > 1 trains with that many processes in this pod
    under torchrun (one per GPU). Checkpoints go to <checkpoint_root>/<pipeline_run_id>/<variant>/, which a
    retry of this task (a new pod) finds and resumes from; they are removed once training succeeds."""
    from mtst.kfp import artifacts, checkpoints, launch, publish

    kept = checkpoints.task_checkpoints(checkpoint_root, pipeline_run_id, variant)
    summary = launch.train_variant(train_params, variant, splits.path, model.path, augmented.path,
                                   init_from=init_from, init_dir=artifacts.init_model_dir(variant, init_from, init_models),
                                   checkpoint_dir=kept.path, resume=True, nproc=nproc)
    checkpoints.release_checkpoints(kept)
    model.metadata.update(variant=variant, resumed_from_step=kept.resume_step)
    publish.log_metrics(metrics, {k: summary.get(k) for k in ("wall_s", "steps", "train_rows", "validation")})


@dsl.component(**COMPONENT_OPTIONS)
def collect_init_models(followup_variants: List[dict], models: Input[List[Model]], init_models: Output[Model]):
    """Copy the model of every collected first-wave variant that a follow-up starts from (<source>/model)."""
    from mtst.kfp import artifacts

    artifacts.collect_init_models(followup_variants, models, init_models.path)
