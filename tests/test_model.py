"""The multi-task model on real sentences: parity with sentence-transformers, freezing, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from mtst.model import MultiTaskSentenceTransformer
from mtst.model.encoder import default_encoder_path


@pytest.fixture(scope="module")
def real_sentences(task_frames):
    a = task_frames["task_a"]["text"].sample(24, random_state=0).tolist()
    b = task_frames["task_b"]["text"].sample(24, random_state=0).tolist()
    return a + b


def test_embeddings_match_sentence_transformers(base_model, real_sentences):
    ours = base_model.encode(real_sentences, batch_size=16)
    reference = SentenceTransformer(str(default_encoder_path()), device="cpu")
    reference.max_seq_length = base_model.max_length
    theirs = reference.encode(real_sentences, normalize_embeddings=True, batch_size=16)
    assert ours.shape == (48, 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


ENCODER = "body.0.model."  # the backbone inside the SentenceTransformer's Transformer module


def _names(model, prefix):
    return {n for n in model.trainable_parameter_names() if n.startswith(prefix)}


def test_freezing_api_sets_exactly_the_expected_parameters():
    model = MultiTaskSentenceTransformer({"task_a": ["x", "y"], "task_b": ["p", "q", "r"]})
    all_encoder = {n for n, _ in model.named_parameters() if n.startswith(ENCODER)}
    heads = {n for n, _ in model.named_parameters() if n.startswith("heads.")}
    assert model.trainable_parameter_names() and set(model.trainable_parameter_names()) == all_encoder | heads

    model.freeze_encoder()
    assert set(model.trainable_parameter_names()) == heads and model.encoder_is_frozen()

    model.unfreeze_top_layers(2)
    top2 = {n for n in all_encoder if n.startswith((f"{ENCODER}encoder.layer.4.", f"{ENCODER}encoder.layer.5."))}
    assert _names(model, ENCODER) == top2

    model.unfreeze_top_layers(6)
    assert _names(model, ENCODER) == {n for n in all_encoder if n.startswith(f"{ENCODER}encoder.layer.")}
    model.unfreeze_top_layers(7)
    assert _names(model, ENCODER) == all_encoder

    model.freeze_head("task_a")
    assert _names(model, "heads.") == {n for n in heads if n.startswith("heads.task_b.")}
    model.unfreeze_head("task_a").freeze_encoder()
    assert set(model.trainable_parameter_names()) == heads
    model.unfreeze_encoder()
    assert set(model.trainable_parameter_names()) == all_encoder | heads


def test_depth_groups_cover_the_encoder_top_first():
    model = MultiTaskSentenceTransformer({"task_a": ["x", "y"]})
    groups = model.encoder_depth_groups()
    assert len(groups) == 7
    assert groups[0][0] is next(model.encoder_layers[-1].parameters())
    assert sum(p.numel() for g in groups for p in g) == sum(p.numel() for p in model.encoder.parameters())


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_save_load_round_trip(tmp_path, real_sentences, head):
    torch.manual_seed(0)
    model = MultiTaskSentenceTransformer({"task_a": list("abcde"), "task_b": list("xyz")}, head=head)
    with torch.no_grad():  # move the encoder away from the packaged weights so the test sees them saved
        model.encoder.encoder.layer[5].output.dense.bias.add_(0.01)
    before = model.predict_proba(real_sentences)
    model.save(tmp_path / "m")
    loaded = MultiTaskSentenceTransformer.load(tmp_path / "m")
    after = loaded.predict_proba(real_sentences)
    for task in before:
        np.testing.assert_allclose(after[task], before[task], atol=1e-6)
    st = SentenceTransformer(str(tmp_path / "m" / "encoder"), device="cpu")
    np.testing.assert_allclose(st.encode(real_sentences[:8]), loaded.encode(real_sentences[:8]), atol=1e-5)
    assert loaded.tasks == model.tasks


def test_load_rejects_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved mtst model"):
        MultiTaskSentenceTransformer.load(tmp_path)
