"""``train``: one freeze variant. ``collect_init_models``: the models that follow-up variants start from."""

from typing import List

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components import COMPONENT_OPTIONS


@dsl.component(**COMPONENT_OPTIONS)
def train(params_json: str, variant: str, splits: Input[Dataset], augmented: Input[Dataset], model: Output[Model],
          metrics: Output[Metrics], init_models: Input[Model] = None, nproc: int = 1, checkpoint_root: str = "",
          pipeline_run_id: str = ""):
    """Run mtst.steps.train for ``variant``: the Model artifact is the train folder (model/, history.jsonl,
    stages.json, train_summary.json). Follow-up variants get ``init_models`` (<variant>/model folders).
    ``nproc`` > 1 trains with that many processes in this pod under torchrun (one per GPU).
    Checkpoints go to <checkpoint_root>/<pipeline_run_id>/<variant>/, which a retry of this task (a new pod)
    finds and resumes from; they are removed once training succeeds."""
    from mtst.kfp import tasks

    params = tasks.load_params(params_json)
    checkpoints = tasks.task_checkpoints(checkpoint_root, pipeline_run_id, variant)
    summary = tasks.train_variant(params_json, variant, splits.path, model.path, augmented.path,
                                  init_dir=tasks.init_model_dir(params, variant, init_models),
                                  checkpoint_dir=checkpoints.path, resume=True, nproc=nproc)
    tasks.release_checkpoints(checkpoints)
    model.metadata.update(variant=variant, resumed_from_step=checkpoints.resume_step)
    tasks.log_metrics(metrics, {k: summary.get(k) for k in ("wall_s", "steps", "train_rows", "validation")})


@dsl.component(**COMPONENT_OPTIONS)
def collect_init_models(params_json: str, models: Input[List[Model]], init_models: Output[Model]):
    """Copy <variant>/model of every collected model that a follow-up variant starts from (init_from)."""
    from mtst.kfp import tasks

    tasks.collect_init_models(tasks.load_params(params_json), models, init_models.path)
