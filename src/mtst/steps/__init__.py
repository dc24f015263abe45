"""One module per DAG node. Each exposes ``run(params, <paths>) -> metrics``; DVC stages (via the CLI)
and kfp components call exactly these functions."""
