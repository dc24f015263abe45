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
- two ``compare`` at once leave the alias where one after the other would: on the best version measured on
  that test data (``converge``: MLflow has no compare-and-set on an alias);
- the decision, with the versions and values of both, is returned for the comparison report and the parent
  run (``mtst.tracking.comparison``), and tagged on the candidate's version (``mtst.registry_decision``);
- a version also records the backend that serves it (``mtst.backend``: the serving table's choice, see
  ``mtst.comparison.serving``); the same run served by another backend is another version. The backend does
  not enter the decision: the selection value is the variant's, as its evaluation measured it.
"""

from __future__ import annotations

from typing import Any

from mtst.contracts.comparison import MeasuredModel, RegistryOutcome
from mtst.run_tags import (BACKEND, DATA_HASH, MODEL_DIGEST, REGISTRY_DECISION as DECISION, RUN_ID,
                           SELECTION_METRIC as METRIC, SELECTION_VALUE as VALUE, TEST_DATA_HASH, VARIANT)

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
    new one, with the digest of its files (``mtst.model_digest``: what predict and serving check before loading;
    an existing version registered before digests existed gets its digest here, from this re-registration)."""
    import mlflow

    from mtst import model_digest

    existing = client.search_model_versions(f"name = '{name}' and run_id = '{candidate.run_id}'")
    for version in sorted(existing, key=lambda v: int(v.version)):
        if (version.tags.get(TEST_DATA_HASH), version.tags.get(BACKEND, "torch")) == \
                (str(candidate.test_data_hash), candidate.backend or "torch"):
            if not version.tags.get(MODEL_DIGEST):
                model_digest.record(client, name, str(version.version))
            return str(version.version)
    number = str(mlflow.register_model(model_uri, name, tags=candidate.tags()).version)
    model_digest.record(client, name, number)
    return number


def settle(client: Any, name: str, alias: str, model_uri: str, candidate: Measured, force: bool) -> RegistryOutcome:
    """Register the candidate, then move the alias to it when forced, else let ``converge`` put it on the best
    version measured like the candidate. Returns the decision with both models (``previous``: the alias holder
    before this compare; ``champion``: after it)."""
    previous = current_champion(client, name, alias)
    version = register(client, name, model_uri, candidate)
    candidate = candidate.model_copy(update={"version": version})
    decision, reason = decide(candidate, previous, force)
    forced = force and previous is not None and previous.version != version
    if force and decision == PROMOTED:
        client.set_registered_model_alias(name, alias, version)
        champion = candidate
    else:
        champion = converge(client, name, alias, candidate)
        decided = candidate if decision == PROMOTED else previous
        if decided is None or champion.version != decided.version:  # a concurrent compare's version won
            decision, reason = _settled_elsewhere(champion, candidate)
    if previous is None or previous.version != version:  # (a re-run on the champion itself keeps its tag)
        client.set_model_version_tag(name, version, DECISION, decision)
    return RegistryOutcome(decision=decision, reason=reason, forced=forced, name=name, alias=alias,
                           candidate=candidate, previous=previous, champion=champion,
                           champion_uri=f"models:/{name}/{champion.version}")


SETTLE_ROUNDS = 20
"""How many times ``converge`` re-reads after moving the alias: each round past the first answers a concurrent
``compare`` that moved it meanwhile from an older view, so a handful at most in practice."""


def converge(client: Any, name: str, alias: str, candidate: Measured) -> Measured:
    """Put the alias on the best version measured like the registered ``candidate`` (same metric, test data and
    data; the first registered among equals), unless its holder is measured otherwise (it keeps the alias: the
    numbers do not compare) or already is as good. Returns the holder it leaves.

    MLflow has no compare-and-set on an alias, and two ``compare`` at once (read, register, decide, set) could
    leave it on the worse one: each decided against the holder it read before the other's version existed. So
    the alias is only ever set to the best of a fresh read of all comparable versions, and every set is followed
    by another read, until a read finds the holder as good as the best. Why that converges: after the last set
    of any compare, the compare that made it reads again and finds its holder the best of every version
    registered before that read; a version registered later belongs to a compare that reads after registering
    it, sees that holder, and would set again if its version were better, so no later set means none was.
    Concurrent compares on other test data do not move an alias they cannot compare; a forced one sets it once
    (``settle``), and the next compare on the same test data moves it to the best again."""
    from mlflow.exceptions import MlflowException

    for _ in range(SETTLE_ROUNDS):
        holder = current_champion(client, name, alias)
        if holder is not None and not comparable(holder, candidate):
            return holder
        best = best_version(client, name, candidate)
        if holder is not None and holder.value is not None and best.value is not None and holder.value >= best.value:
            return holder
        client.set_registered_model_alias(name, alias, best.version)
    raise MlflowException(f"the alias {alias!r} of {name!r} kept moving while {SETTLE_ROUNDS} rounds settled it; "
                          "run compare again")


def comparable(one: Measured, other: Measured) -> bool:
    """Both measured by the same metric on the same test data and data, with a value each (what ``decide``
    compares)."""
    return one.value is not None and other.value is not None and one.metric not in (None, "None") and \
        one.test_data_hash not in (None, "None") and \
        (one.metric, one.test_data_hash, one.data_hash) == (other.metric, other.test_data_hash, other.data_hash)


def best_version(client: Any, name: str, candidate: Measured) -> Measured:
    """The version with the highest selection value among those measured like ``candidate`` (itself included),
    the first registered among equals. A version without its digest yet (a concurrent compare between registering
    it and tagging it) is left out: predict would refuse it; that compare converges again once it is tagged."""
    found = [] if candidate.test_data_hash in (None, "None") else \
        client.search_model_versions(f"name = '{name}' and tags.`{TEST_DATA_HASH}` = '{candidate.test_data_hash}'")
    digested = (v for v in found if (v.tags or {}).get(MODEL_DIGEST))
    measured = {m.version: m for m in (Measured.from_version(v) for v in digested) if comparable(m, candidate)}
    measured.setdefault(str(candidate.version), candidate)
    return max(measured.values(), key=lambda m: (m.value if m.value is not None else float("-inf"), -int(m.version)))


def _settled_elsewhere(champion: Measured, candidate: Measured) -> tuple[str, str]:
    """The decision when the alias ends on another version than this compare alone would have left it: one a
    concurrent compare registered, or the best one back from a forced holder."""
    if champion.version == candidate.version:
        return PROMOTED, "it is the best version registered on the same test data"
    value = f" {champion.value:.4f}" if champion.value is not None else ""
    return KEPT, (f"version {champion.version} ({champion.variant}, {champion.metric}{value}) is the best registered "
                  "on the same test data")
