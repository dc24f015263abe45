"""The files passed between pipeline steps, as pydantic models shared by the writer and every reader.

One model per file: the step that writes a file builds the model and saves it with ``write``; every step that
reads it calls ``read`` and gets typed fields, never a dict to guess keys in. A file that does not match its model
fails with the file's path and the field that is wrong (``ContractError``, exit code 2), so a hand-edited or
truncated record is caught where it is read, not three steps later.

- ``data``: ``labels.json`` beside the split files (``mtst data prepare``): each task's label set.
- ``training``: ``train_summary.json``, ``stages.json``, ``history.jsonl`` of a train folder.
- ``evaluation``: ``metrics.json``, ``report.json``, ``variant.json``, ``mlflow.json`` of an eval folder.
- ``comparison``: ``comparison.json`` of ``mtst compare``.
"""

from mtst.contracts.base import ContractError, Record

__all__ = ["ContractError", "Record"]
