"""One module per DAG node. Each exposes ``run(...) -> dict`` (its metrics / summary); DVC stages (via the
CLI) and kfp components call exactly these functions, so every runner computes the same thing.

Contracts (paths are folders unless named otherwise, where the pipeline puts them is ``mtst.dag.LAYOUT``;
every output folder is written atomically):

- ``fetch.run(params.data, out_dir)``: both datasets with fixed splits.
- ``prepare.run(params.prepare, data_dir, out_dir)``: ``<out>/<task>/<split>.jsonl`` and ``<out>/labels.json``.
- ``validate.run(params.validate, splits_dir, out_dir, ...)``: GX checkpoint, report,
  Data Docs; raises on failure.
- ``augment.run(params.augment, splits_dir, out_dir)``: ``<out>/task_b/train.jsonl``
  (original rows plus augmented rows with ``source_id`` and ``augmentation``).
- ``train.run(params, variant, splits_dir, out_dir, augmented_dir=None)``: ``<out>/model/`` (a saved
  ``MultiTaskSentenceTransformer``), ``<out>/history.jsonl`` (one record per optimisation step),
  ``<out>/stages.json``, ``<out>/train_summary.json``.
- ``evaluate.run(params.evaluate, train_dir, splits_dir, out_dir)``: ``<out>/metrics.json`` and plots.
- ``compare.run(params.compare, eval_dirs, out_dir)``: ``comparison.md`` and a chart.

The steps that record to MLflow (validate, train, evaluate, compare) take ``tracking=``, ``pipeline_params=``
and ``pipeline_id=`` and each logs the facts it produced under the pipeline run's parent run (``mtst.tracking``):
validate its report, train the variant's training run, evaluate the test metrics and model, compare the decision.
"""
