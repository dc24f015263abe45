"""The champion alias in the MLflow model registry: it moves only to a model that is better on the same test data.

Why: ``mtst compare`` runs after every pipeline run, a smoke run or another dataset too, and ``mtst predict``
follows the alias when no ``--model`` is given. Moving the alias to whatever was compared last let a smoke
model replace the default run's far better one without a word. So:

- every registered version carries what its number means, as model version tags: the selection metric and
  value, the test-set hash (``mtst.test_data_hash``: sha256 over the split name and every test row's task, id
  and true label, ``mtst.evaluation.testset``, so a DVC and a kfp run of the same data agree)
  and the data hash (``mtst.data_hash``, the md5 ``data.dvc`` records);
- the candidate (this run's best variant) is always registered as a version (versions are cheap; a re-run of
  ``compare`` reuses the version of the same run), but the alias moves to it only when it strictly beats the
  current champion by the selection metric on the same test data and data, or when forced
  (``compare.force_champion``). A champion measured on other test data, by another metric, or without those
  tags (registered before they existed) keeps the alias: the numbers do not compare;
- the decision, with the versions and values of both, is returned for the comparison report and the parent
  run (``mtst.tracking.comparison``), and tagged on the candidate's version (``mtst.registry_decision``);
- a version also records the backend that serves it (``mtst.backend``: the serving table's choice, see
  ``mtst.comparison.serving``); the same run served by another backend is another version. The backend does
  not enter the decision: the selection value is the variant's, as its evaluation measured it.
"""

from __future__ import annotations

from typing import Any

from mtst.contracts.comparison import MeasuredModel, RegistryOutcome
from mtst.run_tags import (BACKEND, DATA_HASH, REGISTRY_DECISION as DECISION, RUN_ID, SELECTION_METRIC as METRIC,
                           SELECTION_VALUE as VALUE, TEST_DATA_HASH, VARIANT)

PROMOTED, KEPT = "promoted", "kept"


class Measured(MeasuredModel):
    """A registered (or candidate) model's selection value and what it was measured on: the contract's record,
    read from and written to the model version's tags."""

    @classmethod
    def from_version(cls, version: Any) -> Measured:
        tags = dict(version.tags or {})
        try:
            value: float | None = float(tags[VALUE])
        except (KeyError, ValueError):
            value = None
        return cls(version=str(version.version), variant=tags.get(VARIANT, "?"),
                   run_id=tags.get(RUN_ID) or version.run_id, metric=tags.get(METRIC), value=value,
                   test_data_hash=tags.get(TEST_DATA_HASH), data_hash=tags.get(DATA_HASH), backend=tags.get(BACKEND))

    def tags(self) -> dict[str, str]:
        return {VARIANT: self.variant, RUN_ID: str(self.run_id), METRIC: str(self.metric), VALUE: str(self.value),
                TEST_DATA_HASH: str(self.test_data_hash), DATA_HASH: str(self.data_hash),
                BACKEND: self.backend or "torch"}


def decide(candidate: Measured, champion: Measured | None, force: bool) -> tuple[str, str]:
    """(``promoted`` | ``kept``, the reason in a sentence). Promoted: no champion yet, forced, or strictly better
    by the same metric on the same test data and data; everything else keeps the champion."""
    if champion is None:
        return PROMOTED, "there was no champion yet"
    if champion.version == candidate.version:
        return KEPT, "this run's best model already is the champion"
    if force:
        return PROMOTED, "it was forced (compare.force_champion) regardless of the numbers"
    if champion.value is None or champion.test_data_hash in (None, "None") or champion.metric in (None, "None"):
        return KEPT, ("the champion records no selection value or test-set hash (registered before they were "
                      "recorded), so the numbers do not compare")
    if champion.metric != candidate.metric:
        return KEPT, (f"the champion was selected by `{champion.metric}`, this run by `{candidate.metric}`: not "
                      "comparable")
    if candidate.test_data_hash is None or (champion.test_data_hash, champion.data_hash) != (candidate.test_data_hash,
                                                                                           candidate.data_hash):
        return KEPT, (f"the champion was measured on other test data (test-set hash {_short(champion.test_data_hash)}, "
                      f"data {_short(champion.data_hash)}; this run: {_short(candidate.test_data_hash)}, data "
                      f"{_short(candidate.data_hash)}), e.g. another profile or dataset, so the numbers do not "
                      "compare")
    assert candidate.value is not None
    if candidate.value > champion.value:
        return PROMOTED, (f"it beats the champion on the same test data ({candidate.metric} {candidate.value:.4f} > "
                          f"{champion.value:.4f})")
    return KEPT, (f"it does not beat the champion on the same test data ({candidate.metric} {candidate.value:.4f} ≤ "
                  f"{champion.value:.4f})")


def _short(text: str | None) -> str:
    return "unknown" if text in (None, "None", "unknown") else str(text)[:12]


def current_champion(client: Any, name: str, alias: str) -> Measured | None:
    """The version the alias points at, or None when the model or the alias does not exist yet."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = (model.aliases or {}).get(alias)  # (a missing alias is no error code MLflow spells the same everywhere)
    return None if version is None else Measured.from_version(client.get_model_version(name, str(version)))


def register(client: Any, name: str, model_uri: str, candidate: Measured) -> str:
    """The version of ``name`` for the candidate's run and backend: the existing one (a re-run of compare) or a
    new one."""
    import mlflow

    existing = client.search_model_versions(f"name = '{name}' and run_id = '{candidate.run_id}'")
    for version in sorted(existing, key=lambda v: int(v.version)):
        if (version.tags.get(TEST_DATA_HASH), version.tags.get(BACKEND, "torch")) == \
                (str(candidate.test_data_hash), candidate.backend or "torch"):
            return str(version.version)
    return str(mlflow.register_model(model_uri, name, tags=candidate.tags()).version)


def settle(client: Any, name: str, alias: str, model_uri: str, candidate: Measured, force: bool) -> RegistryOutcome:
    """Register the candidate, decide, move the alias if promoted. Returns the decision with both models."""
    previous = current_champion(client, name, alias)
    version = register(client, name, model_uri, candidate)
    candidate = candidate.model_copy(update={"version": version})
    decision, reason = decide(candidate, previous, force)
    if decision == PROMOTED:
        client.set_registered_model_alias(name, alias, version)
    if previous is None or previous.version != version:  # (a re-run on the champion itself keeps its tag)
        client.set_model_version_tag(name, version, DECISION, decision)
    champion = candidate if decision == PROMOTED else previous
    assert champion is not None
    forced = force and previous is not None and previous.version != version
    return RegistryOutcome(decision=decision, reason=reason, forced=forced, name=name, alias=alias,
                           candidate=candidate, previous=previous, champion=champion,
                           champion_uri=f"models:/{name}/{champion.version}")
