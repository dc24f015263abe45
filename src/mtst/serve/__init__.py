"""Serving a model over the Open Inference Protocol (v2) with MLServer: ``mtst serve``.

The contract (what clients and ``benchmarks/serve_load.py`` code against; kept stable):

- Command: ``mtst serve [--model REF] [--backend NAME] [--host H] [--port N] [--metrics-port N]
  [--params params.yaml] [--profile P]``; ``make serve``. REF: ``models:/<name>@<alias>`` or
  ``models:/<name>/<version>`` (default: the champion, ``models:/<compare.registered_model>@<compare.alias>``),
  or a local saved model / training / export folder. It prints the URL and a ready ``curl``, then runs MLServer in
  the foreground until SIGINT / SIGTERM. Defaults of every setting: the ``serve`` section of params.yaml.
- Model name in the URLs: ``compare.registered_model`` (``mtst-multitask``); REST at
  ``http://<host>:<port>/v2/models/<name>/infer``, readiness ``/v2/health/ready``, metadata ``/v2/models/<name>``;
  Prometheus metrics at ``http://<host>:<metrics-port>/metrics``.
- Input: one tensor ``text``, datatype ``BYTES``, shape ``[n]`` (``[n, 1]`` accepted), data: ``n`` non-empty
  strings. Outputs, per task (``task_a``, ``task_b``): ``<task>_label`` (``BYTES``, ``[n]``) and
  ``<task>_probabilities`` (``FP32``, ``[n, k]``, row-major, columns in the order of the task's labels). The
  labels: the model metadata's outputs ``<task>_probabilities``, ``parameters.labels``.
- Refusals: 413 (over ``serve.max_rows`` rows, ``serve.max_chars`` characters in a text, ``serve.max_body_bytes``
  bytes of body) or 422 (anything else malformed), with ``{"error": "<field>: <rule>"}``, before any model work.

The modules: ``settings`` (MLServer's settings files from the ``serve`` section), ``limits`` (the request checks),
``body`` (the body-size cap, an ASGI middleware), ``runtime`` (the MLServer runtime, run in the serving venv: no
torch), ``launch`` (resolve, verify and export the model, write the folder, exec MLServer).
"""
