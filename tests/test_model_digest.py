"""A model runs only what was registered: a registered version records the digest of its files, and `mtst predict`
(and `mtst.serving.load_registered`) refuses a version whose files changed in the artifact store since, or that
records no digest, before any of its code runs; `compare` refuses to register a model that a run's
`mtst.model_uri.*` tag names when the run did not log it. A real embedded MLflow store, a real pyfunc of the
packaged encoder (untrained heads: what is checked is which files load, not how well they predict)."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from typer.testing import CliRunner

from mtst.config import TrackingParams
from mtst.model_digest import ModelDigestError, tree_digest
from mtst.run_tags import MODEL_DIGEST, model_uri_for

NAME, ALIAS = "mtst-multitask", "champion"
CHAMPION = f"models:/{NAME}@{ALIAS}"


class Store:
    """An embedded store holding one run with one logged pyfunc (``model-torch``), registered as the champion."""

    def __init__(self, root: Path, base_model) -> None:
        import mlflow

        from mtst.registry import Measured, settle
        from mtst.serving import log_pyfunc
        from mtst.tracking.store import Tracker

        self.root, self.uri = root, f"sqlite:///{root / 'mlflow.db'}"
        self.params = TrackingParams(uri=self.uri)
        self.tracker = Tracker.open(self.params, self.uri)
        base_model.save(root / "model")
        self.run_id = self.tracker.create_run("champion", {})
        with mlflow.start_run(run_id=self.run_id):
            self.model_uri = log_pyfunc(root / "model", base_model, ["An example sentence."], name="model-torch").model_uri
        self.tracker.set_tags(self.run_id, {model_uri_for("torch"): self.model_uri})
        candidate = Measured(version=None, variant="frozen", run_id=self.run_id, metric="mean_macro_f1", value=0.5,
                             test_data_hash="a" * 64, data_hash="d")
        self.version = settle(self.tracker.client, NAME, ALIAS, self.model_uri, candidate, False).candidate.version
        logged = self.tracker.client.get_logged_model(self.model_uri[len("models:/"):])
        self.files = Path(urlparse(logged.artifact_location).path)  # the model's tree in the artifact store

    def tag(self) -> str | None:
        return self.tracker.client.get_model_version(NAME, self.version).tags.get(MODEL_DIGEST)


@pytest.fixture(scope="module")
def store(base_model, tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("digest-store"), base_model)


@pytest.fixture
def sentences(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the store is the test's own (TrackingParams.uri)
    path = tmp_path / "in.csv"
    path.write_text("text\nShares in the bank fell sharply after the results.\n")
    return path


def _predict(store: Store, sentences: Path, out: Path):
    from mtst.prediction import predict_file

    return predict_file(CHAMPION, sentences, out, tracking_params=store.params, announce=lambda _: None)


def test_registration_records_the_digest_of_the_stored_files(store):
    assert store.tag() == tree_digest(store.files) and store.tag().startswith("sha256:")
    # the digest covers paths and contents: a renamed or an added file changes it as an edited one does
    copy = store.root / "copy"
    shutil.copytree(store.files, copy)
    assert tree_digest(copy) == store.tag()
    (copy / "MLmodel").rename(copy / "MLmodel2")
    assert tree_digest(copy) != store.tag()
    shutil.rmtree(copy)


def test_an_untampered_champion_loads(store, sentences, tmp_path):
    out = _predict(store, sentences, tmp_path / "out.jsonl")
    assert out["model_uri"] == f"models:/{NAME}/{store.version}" and out["rows"] == 1


def test_a_changed_file_in_the_champions_artifacts_is_refused_before_its_code_runs(store, sentences, tmp_path):
    code = store.files / "pyfunc_model.py"  # executed when the pyfunc loads
    marker = tmp_path / "tampered-code-ran"
    original = code.read_text()
    code.write_text(original + f"\nimport pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n")
    try:
        with pytest.raises(ModelDigestError) as error:
            _predict(store, sentences, tmp_path / "out.jsonl")
        message = str(error.value)
        assert f"{NAME!r} version {store.version}" in message
        assert f"expected digest {store.tag()}" in message and f"found {tree_digest(store.files)}" in message
        assert not marker.exists() and not (tmp_path / "out.jsonl").exists()

        # the CLI: exit code 2, the sentence, no traceback
        from mtst.cli import app

        result = CliRunner().invoke(app, ["predict", "--model", CHAMPION, "--input", str(sentences),
                                          "--output", str(tmp_path / "cli.jsonl")], env={"MLFLOW_TRACKING_URI": store.uri})
        assert result.exit_code == 2 and "files are not the ones registered" in result.stderr
        assert "Traceback" not in result.stderr and not marker.exists() and not (tmp_path / "cli.jsonl").exists()
    finally:
        code.write_text(original)
    # a file added to the model's folder (the weights' folder here) is a change too
    extra = store.files / "artifacts" / "model" / "extra.bin"
    extra.write_bytes(b"\0")
    try:
        with pytest.raises(ModelDigestError, match="not the ones registered"):
            _predict(store, sentences, tmp_path / "out.jsonl")
    finally:
        extra.unlink()
    assert _predict(store, sentences, tmp_path / "out.jsonl")["rows"] == 1  # restored: loads again


def test_a_registered_version_without_a_digest_is_refused(store, sentences, tmp_path):
    digest = store.tag()
    store.tracker.client.delete_model_version_tag(NAME, store.version, MODEL_DIGEST)
    try:
        with pytest.raises(ModelDigestError, match=f"{NAME!r} version {store.version} records no digest"):
            _predict(store, sentences, tmp_path / "out.jsonl")
    finally:
        store.tracker.client.set_model_version_tag(NAME, store.version, MODEL_DIGEST, digest)


def test_a_repointed_model_tag_is_not_registered(store):
    """The run's `mtst.model_uri.<backend>` tag decides what `compare` registers for that backend: a tag naming a
    model this run did not log (another run's) is refused; the run's own model is taken."""
    from mtst.tracking.comparison import served_model

    assert served_model(store.tracker, store.run_id, None, "torch", 13) == store.model_uri  # its own: reused
    other = store.tracker.create_run("someone-else", {})
    for backend, uri in (("torch", store.model_uri), ("onnx-int8", f"runs:/{store.run_id}/model-torch")):
        store.tracker.set_tags(other, {model_uri_for(backend): uri})
        with pytest.raises(ModelDigestError, match=f"run {other}'s tag {model_uri_for(backend)} names"):
            served_model(store.tracker, other, None, backend, 13)
    # the run's own tag repointed to its own model under another name is refused too
    store.tracker.set_tags(store.run_id, {model_uri_for("onnx-int8"): store.model_uri})
    with pytest.raises(ModelDigestError, match="not the model `model-onnx-int8`"):
        served_model(store.tracker, store.run_id, None, "onnx-int8", 13)
