"""The comparison over all evaluated freeze variants: the variant table, one multi-task model vs two
single-task models (quality with paired-bootstrap intervals, training time, inference throughput, memory,
parameters), a decision paragraph generated from those numbers, and the imbalance ablation table.

Inputs are evaluation folders (``mtst evaluate``), read through ``mtst.contracts.evaluation``; the output is
``comparison.json`` (``mtst.contracts.comparison.Comparison``) and ``comparison.md``. One concern per module:

- ``results``: the eval folders as ``Result``, in the pipeline's declared variant order;
- ``statistics``: macro-F1 and the paired bootstrap;
- ``timing``: the models' throughput measured side by side;
- ``decision``: the champion, the single-task baselines, multi-task vs separate and the recommendation;
- ``ablation``: the ablations (``train.variants.<v>.ablation_of``) against their base;
- ``earlier_runs``: what MLflow holds from earlier runs (a variant's other seeds, ablations not trained here);
- ``serving``: the champion by each backend (torch, ONNX, ONNX int8) and the one that serves it;
- ``report``: the ``Comparison`` record, its Markdown (``templates/comparison.md.j2``) and the chart rows.
"""
