"""A user file brings its own labels (issue 31, item 1): with nothing set but ``data.sentiment.path``, a file
labelled with any names and any number of classes goes through every step — fetch, prepare, validate, augment,
train, evaluate, compare, predict — with the file's labels (sorted) as Task B's label set, decided once by
prepare (``labels.json`` beside the split files) and read from there by every later step.

Everything is real and small: the real BBC data for Task A, the packaged encoder, a frozen-encoder variant on
cached embeddings (the smoke profile's training settings), the real GX checkpoints.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest

from mtst.augment.protect import Protector, load_vader_lexicon
from mtst.contracts import ContractError
from mtst.config import AugmentOp, CompareParams, ConfigError, DataParams, EvaluateParams, Params, SentimentSource, \
    ValidateParams, load_params
from mtst.data import datasets
from mtst.prediction import predict_file
from mtst.steps import augment, compare, evaluate, fetch, prepare, train, validate
from mtst.validation import ValidationFailed

ONLY_SWAP_DELETE = {"synonym": AugmentOp(copies=0), "insert": AugmentOp(copies=0)}  # no WordNet needed

TOPICS = {  # four classes a linear probe tells apart; names that are no built-in source's
    "a1": ["rain", "clouds", "storm", "forecast", "drizzle", "thunder"],
    "b2": ["recipe", "oven", "garlic", "simmer", "flour", "butter"],
    "c3": ["goal", "striker", "referee", "penalty", "keeper", "league"],
    "d4": ["shares", "bonds", "dividend", "interest", "broker", "inflation"],
}
SENTIMENT = {  # the example: a sentiment file labelled neg / neu / pos
    "neg": ["I hate this {} , it is awful", "not good at all , the {} broke", "terrible {} and a horrible day"],
    "neu": ["the {} arrived on tuesday", "a {} was on the table", "we moved the {} to the hall"],
    "pos": ["I love this {} , it is great", "a wonderful {} and a happy day", "really nice {} , very good"],
}
THINGS = ["lamp", "chair", "phone", "kettle", "jacket", "bike", "clock", "radio", "camera", "blanket"]


def topic_rows(per_label: int = 100) -> list[dict]:
    rng = random.Random(7)
    return [{"text": f"note {i}: the {' '.join(rng.sample(words, 3))} story number {i}", "label": label}
            for label, words in TOPICS.items() for i in range(per_label)]


def sentiment_rows(per_label: int = 100) -> list[dict]:
    return [{"text": f"{templates[i % 3].format(THINGS[i % 10])} , review {i}", "label": label}
            for label, templates in SENTIMENT.items() for i in range(per_label)]


def prepared(tmp: Path, rows: list[dict], params_file: Path) -> tuple[Params, Path, Path]:
    """A user's CSV as ``data.sentiment.path`` (the only setting changed), then ``mtst data fetch`` and
    ``prepare`` on the smoke profile, with Task A capped further so the test stays seconds."""
    path = tmp / "mine.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    params = load_params(params_file, profile="smoke")
    params = params.model_copy(update={
        "data": params.data.model_copy(update={"sentiment": params.data.sentiment.model_copy(
            update={"path": str(path)})}),
        "prepare": params.prepare.model_copy(update={"task_a_train_limit": 150, "validation_limit": 100,
                                                     "test_limit": 100}),
        "augment": params.augment.model_copy(update=ONLY_SWAP_DELETE)})
    data, splits = tmp / "data", tmp / "splits"
    fetch.run(params.data, data)
    prepare.run(params.prepare, data, splits)
    return params, data, splits


def test_sentiment_file_labelled_neg_neu_pos_validates_and_augments(tmp_path, repo_root):
    """The issue's file: it stopped at validate ("labels ['neg', 'neu', 'pos'] are not in ['negative', ...]")."""
    params, data, splits = prepared(tmp_path, sentiment_rows(), repo_root / "params.yaml")
    report = validate.run(ValidateParams(), splits, None, data)
    assert report["success"], report["failures"]
    expected = {"task_a": list(datasets.TASK_LABELS["task_a"]), "task_b": ["neg", "neu", "pos"]}
    assert report["labels"] == expected
    from mtst.contracts.data import LABELS  # after validate: the step that stopped the file comes first

    assert json.loads((splits / LABELS).read_text()) == expected  # decided once, by prepare

    summary = augment.run(params.augment, splits, tmp_path / "augmented", progress=False)
    assert summary["output_check"]["success"] and summary["augmented_rows"] > 0
    rows = [json.loads(line) for line in (tmp_path / "augmented" / "task_b" / "train.jsonl").read_text().splitlines()]
    assert {r["label"] for r in rows} == {"neg", "neu", "pos"}
    # The lexicon locks apply: every augmented sentence keeps its source's sentiment words and negation windows.
    protector = Protector(load_vader_lexicon(), params.augment.sentiment_min_valence, params.augment.negation_window)
    source = {r["id"]: r["text"].split() for r in rows if r["augmentation"] is None}
    changed = [r for r in rows if r["augmentation"] is not None]
    assert any("not" in source[r["source_id"]] for r in changed)
    for row in changed:
        before, after = source[row["source_id"]], row["text"].split()
        assert protector.protected_sequence(after) == protector.protected_sequence(before), row
        assert protector.negation_spans(after) == protector.negation_spans(before), row
    validate.run(ValidateParams(), splits, None, data_dir=None, augmented_dir=tmp_path / "augmented")


def test_a_checked_file_has_its_own_labels_unless_they_are_declared(tmp_path):
    """`mtst validate --file`: the file's own labels; ``validate.labels`` stays a check, naming what differs."""
    path = tmp_path / "mine.csv"
    pd.DataFrame(sentiment_rows(40)).to_csv(path, index=False)
    report = validate.run_files(ValidateParams(), [path], "task_b")
    assert report["success"] and report["labels"] == {"task_b": ["neg", "neu", "pos"]}
    with pytest.raises(ValidationFailed) as info:
        validate.run_files(ValidateParams(labels={"task_b": ["negative", "neutral", "positive"]}), [path], "task_b")
    assert info.value.rules == {"label_set", "min_per_class"}
    assert "labels ['neg', 'neu', 'pos'] are not in ['negative', 'neutral', 'positive']" in str(info.value)


def test_a_recorded_label_set_is_the_one_every_step_reads(tmp_path):
    """Train reads the label set from the split folder's record: a split row outside it, or a broken record, stops
    it with the file named, before any model is built."""
    from mtst.contracts.data import LABELS

    splits = tmp_path / "splits"
    for split, labels in (("train", ["a1", "b2", "c3"]), ("validation", ["a1", "b2"])):
        (splits / "task_b").mkdir(parents=True, exist_ok=True)
        rows = [{"id": f"{split}{i}", "text": f"text {split} {i}", "label": label, "group": f"{split}{i}",
                 "split": split} for i, label in enumerate(labels)]
        (splits / "task_b" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert datasets.task_labels(splits, "task_b") == ["a1", "b2", "c3"]  # no record: the same rule, from the files
    (splits / LABELS).write_text(json.dumps({"task_b": ["a1", "b2"]}))
    with pytest.raises(ConfigError, match=r"train.jsonl: labels \['c3'\] are not in the task's label set "
                                          r"\['a1', 'b2'\]"):
        train.load_task_data(["task_b"], splits, None)
    (splits / LABELS).write_text(json.dumps({"task_b": ["a1", "a1"]}))
    with pytest.raises(ContractError, match="labels.json: not a label set per task"):
        train.load_task_data(["task_b"], splits, None)


def test_four_class_file_goes_end_to_end(tmp_path, repo_root):
    """Four classes named a1 ... d4: validate, augment, validate the augmented split, train three variants,
    evaluate, compare (one multi-task model vs two single-task ones) and predict, all with those labels."""
    params, data, splits = prepared(tmp_path, topic_rows(), repo_root / "params.yaml")
    labels = sorted(TOPICS)
    assert validate.run(params.validate, splits, None, data)["labels"]["task_b"] == labels
    assert datasets.task_labels(splits, "task_b") == labels
    augmented = tmp_path / "augmented"
    augment.run(params.augment, splits, augmented, progress=False)
    assert validate.run(params.validate, splits, None, data_dir=None, augmented_dir=augmented)["success"]

    # Three probes on cached embeddings (the smoke profile's `frozen` recipe): both tasks on the augmented split,
    # and each task alone, so compare also weighs one multi-task model against two single-task ones.
    probe = params.train.variants["frozen"]
    variants = {"probe": probe.model_copy(update={"augment": True}),
                "single_a": probe.model_copy(update={"tasks": ["task_a"]}),
                "single_b": probe.model_copy(update={"tasks": ["task_b"], "augment": True})}
    params = params.model_copy(update={"train": params.train.model_copy(update={"variants": variants})})
    fast = EvaluateParams(throughput_sentences=16, throughput_repeats=1)
    eval_dirs = []
    for name in variants:
        summary = train.run(params, name, splits, tmp_path / "train" / name, augmented, show_progress=False)
        assert summary["augmented"] is (name != "single_a")
        metrics = evaluate.run(fast, tmp_path / "train" / name, splits, tmp_path / "eval" / name)
        if "task_b" in variants[name].tasks:
            assert {key.split(".")[2] for key in metrics if key.startswith("task_b.class.")} == set(labels)
            assert metrics["task_b.macro_f1"] > 0.9  # the classes are separable: the labels were not mixed up
        eval_dirs.append(tmp_path / "eval" / name)
    report = json.loads((tmp_path / "eval" / "probe" / "report.json").read_text())
    assert report["tasks"]["task_b"]["confusion"]["labels"] == labels
    assert len(report["tasks"]["task_b"]["confusion"]["matrix"]) == 4

    result = compare.run(CompareParams(bootstrap=50, measure_inference=False, serving_backends=["torch"],
                                       serving_timed_sentences=16), eval_dirs, tmp_path / "reports",
                         order=list(variants))
    assert result["champion"] == "probe" and result["decision"] is not None
    markdown = (tmp_path / "reports" / "comparison.md").read_text()
    assert "| Task B macro-F1 |" in markdown and "B tweets" not in markdown  # no VADER domains in a user file

    test = datasets.load_split(splits, "task_b", "test")
    test[["text"]].to_csv(tmp_path / "sentences.csv", index=False)
    out = predict_file(tmp_path / "train" / "probe", tmp_path / "sentences.csv", tmp_path / "predictions.jsonl")
    assert out["rows"] == len(test)
    predicted = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert all(list(p["task_b"]["probabilities"]) == labels for p in predicted)
    accuracy = sum(p["task_b"]["label"] == y for p, y in zip(predicted, test["label"], strict=True)) / len(test)
    assert accuracy > 0.9


def test_a_builtin_source_that_loses_a_class_stops_at_fetch():
    """The built-in VADER data with thresholds that leave no negative rating is not a 2-class dataset in disguise."""
    params = DataParams(sentiment=SentimentSource(neg_threshold=-4.5, pos_threshold=0.5))
    with pytest.raises(ConfigError, match=r"data.sentiment: the built-in source gives the labels \['neutral', "
                                          r"'positive'\], not its declared \['negative', 'neutral', 'positive'\]"):
        datasets.build_task("task_b", params)
