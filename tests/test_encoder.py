"""The encoder is sentence-transformers' own Transformer → Pooling(mean) → Normalize: same numbers as the
formula mtst used before (mean pooling + F.normalize over the AutoModel output) and as
``SentenceTransformer(packaged model).encode``; the saved folder is one sentence-transformers reads back, and a
folder in the layout earlier mtst versions wrote by hand still loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from transformers import AutoModel

from mtst.model import MultiTaskSentenceTransformer
from mtst.model.encoder import default_encoder_path


@pytest.fixture(scope="module")
def sentences(task_frames):
    return task_frames["task_a"]["text"].sample(6, random_state=1).tolist() + \
        task_frames["task_b"]["text"].sample(6, random_state=1).tolist()


def _previous_formula(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """What mtst computed before it used the sentence-transformers modules."""
    tokens = model(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    pooled = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=1)


@pytest.mark.parametrize("train_mode", [False, True])
def test_embeddings_equal_the_previous_formula_and_sentence_transformers(sentences, train_mode):
    torch.manual_seed(0)
    ours = MultiTaskSentenceTransformer({"task_a": ["x", "y"]})
    plain = AutoModel.from_pretrained(default_encoder_path(), local_files_only=True, add_pooling_layer=False)
    batch = ours.tokenize(sentences)
    ours.train(train_mode)
    plain.train(train_mode)
    torch.manual_seed(1)  # in training mode dropout draws the same masks in the same order
    mine = ours.embed_tokens(batch["input_ids"], batch["attention_mask"])
    torch.manual_seed(1)
    before = _previous_formula(plain, batch["input_ids"], batch["attention_mask"])
    assert torch.equal(mine, before)
    if train_mode:
        return
    reference = SentenceTransformer(str(default_encoder_path()), device="cpu", local_files_only=True)
    reference.max_seq_length = ours.max_length
    theirs = reference.encode(sentences, normalize_embeddings=True, convert_to_tensor=True)
    assert (mine - theirs).abs().max().item() < 1e-5


def test_dropout_override_and_no_cls_pooler():
    model = MultiTaskSentenceTransformer({"task_a": ["x", "y"]}, encoder_dropout=0.0)
    assert model.encoder.config.hidden_dropout_prob == model.encoder.config.attention_probs_dropout_prob == 0.0
    assert getattr(model.encoder, "pooler", None) is None  # DDP refuses parameters off the gradient path
    assert MultiTaskSentenceTransformer({"task_a": ["x"]}).encoder.config.hidden_dropout_prob == 0.1


def test_saved_encoder_is_a_sentence_transformers_folder(tmp_path, sentences):
    model = MultiTaskSentenceTransformer({"task_a": ["x", "y"]}, max_length=32)
    with torch.no_grad():
        model.encoder.encoder.layer[5].output.dense.bias.add_(0.01)
    model.save(tmp_path / "m")
    folder = tmp_path / "m" / "encoder"
    modules = [m["type"].rsplit(".", 1)[1] for m in json.loads((folder / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    loaded = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    assert loaded.max_seq_length == 32
    np.testing.assert_allclose(loaded.encode(sentences), model.encode(sentences), atol=1e-5)


def test_folder_in_the_earlier_hand_written_layout_still_loads(tmp_path, sentences):
    """mtst wrote ``modules.json``, ``sentence_bert_config.json`` and ``1_Pooling/config.json`` itself before."""
    model = MultiTaskSentenceTransformer({"task_a": ["x", "y"]})
    model.save(tmp_path / "m")
    folder = tmp_path / "m" / "encoder"
    for name in ("config_sentence_transformers.json", "2_Normalize/config.json"):
        (folder / name).unlink()
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 384, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    again = MultiTaskSentenceTransformer.load(tmp_path / "m")
    expected = model.encode(sentences)
    np.testing.assert_array_equal(again.encode(sentences), expected)
    np.testing.assert_allclose(SentenceTransformer(str(folder), device="cpu").encode(sentences), expected, atol=1e-5)
