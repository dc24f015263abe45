"""The Task B learning curve (``mtst curve``): the pipeline's steps run over a grid of Task B training sizes,
seeds and variants, summarised as intervals and a generated paragraph in ``reports/learning_curve.*``.

Modules: ``grid`` (the points, one point from prepare to evaluate, resumable), ``summary`` (intervals, paired
differences, the paragraph), ``report`` (json, md, png), ``run`` (the whole curve and its MLflow runs)."""

from mtst.curve.run import run

__all__ = ["run"]
