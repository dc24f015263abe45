"""Staged multi-task training: task samplers, loss weighting, stage schedule, trainer, checkpoints."""
