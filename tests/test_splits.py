"""Split integrity on the real data: grouping, no shared text, stratification, the Task B limit."""

from __future__ import annotations

import pandas as pd
import pytest

from mtst.config import PrepareParams
from mtst.data import SPLITS
from mtst.data.datasets import load_split
from mtst.steps import prepare


@pytest.mark.parametrize("task", ["task_a", "task_b"])
def test_no_group_and_no_text_in_two_splits(task_frames, task):
    frame = task_frames[task]
    assert set(frame["split"]) == set(SPLITS)
    assert (frame.groupby("group")["split"].nunique() == 1).all()
    assert (frame.groupby("text")["split"].nunique() == 1).all()
    assert not frame["text"].duplicated().any()
    assert frame["id"].is_unique


def test_task_a_articles_grouped(task_frames):
    frame = task_frames["task_a"]
    per_article = frame.groupby("group").size()
    assert per_article.median() > 10  # whole articles, not single sentences, were assigned
    assert frame["group"].nunique() > 2000


@pytest.mark.parametrize("task", ["task_a", "task_b"])
def test_splits_are_stratified(task_frames, task):
    frame = task_frames[task]
    share = pd.crosstab(frame["split"], frame["label"], normalize="index")
    assert (share.max() - share.min()).max() < 0.05, share


def test_task_b_keeps_domains_in_every_split(task_frames):
    frame = task_frames["task_b"]
    assert (pd.crosstab(frame["split"], frame["domain"]) > 100).all().all()
    assert (frame["split"] == "test").sum() > 5000  # large enough to see a 1-point difference


def test_prepare_limits_task_b_train_only(data_dir, tmp_path, task_frames):
    summary = prepare.run(PrepareParams(task_b_train_limit=300, test_limit=None), data_dir, tmp_path)
    train_b = load_split(tmp_path, "task_b", "train")
    assert len(train_b) == 300 == summary["task_b"]["train"]["total"]
    assert set(train_b["label"]) == {"negative", "neutral", "positive"}
    assert set(train_b["domain"]) == {"tweets", "movie", "amazon", "nyt"}
    full_train = task_frames["task_b"]
    assert set(train_b["id"]) <= set(full_train.loc[full_train["split"] == "train", "id"])
    test_b = load_split(tmp_path, "task_b", "test")
    assert len(test_b) == (full_train["split"] == "test").sum()  # test_limit None: the test split is whole
    share_full = full_train[full_train["split"] == "train"]["label"].value_counts(normalize=True)
    share_small = train_b["label"].value_counts(normalize=True)
    assert (share_full - share_small).abs().max() < 0.01


def test_prepare_is_seeded(data_dir, tmp_path):
    params = PrepareParams(task_a_train_limit=500, task_b_train_limit=200, validation_limit=100, test_limit=150)
    prepare.run(params, data_dir, tmp_path / "a")
    prepare.run(params, data_dir, tmp_path / "b")
    for task in ("task_a", "task_b"):
        for split in SPLITS:
            assert (tmp_path / "a" / task / f"{split}.jsonl").read_bytes() == (tmp_path / "b" / task / f"{split}.jsonl").read_bytes()
