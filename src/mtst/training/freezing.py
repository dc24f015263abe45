"""What trains at a given step of a stage: the stage's encoder mode and which heads learn.

Gradual unfreezing makes this a function of the step, so the trainer applies it before every step of a
``gradual`` stage and once at the start of the others.
"""

from __future__ import annotations

from mtst.model import MultiTaskSentenceTransformer
from mtst.training.schema import StageParams


def apply_freezing(model: MultiTaskSentenceTransformer, stage: StageParams, tasks: list[str], step: int,
                   steps_per_epoch: int) -> int:
    """Set ``requires_grad`` for ``step`` of ``stage`` (heads of ``tasks`` learn unless the stage freezes them);
    return how many encoder blocks are trainable."""
    depth = len(model.encoder_layers)
    if stage.encoder == "frozen":
        model.freeze_encoder()
        unfrozen = 0
    elif stage.encoder == "all":
        model.unfreeze_encoder()
        unfrozen = depth + 1
    elif stage.encoder.startswith("top:"):
        unfrozen = int(stage.encoder.split(":")[1])
        model.unfreeze_top_layers(unfrozen)
    else:  # gradual
        u = stage.unfreeze
        interval = steps_per_epoch if u.every == "epoch" else u.every_steps
        unfrozen = min(u.initial_layers + u.layers_per_step * (step // interval), u.max_layers)
        model.unfreeze_top_layers(unfrozen)
    for task in model.tasks:
        if task in tasks and task not in stage.freeze_heads:
            model.unfreeze_head(task)
        else:
            model.freeze_head(task)
    return unfrozen
