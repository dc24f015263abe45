"""`mtst augment`: EDA on the Task B training split only, seeded, with source and operation recorded, protected
words kept, no leakage; WordNet from the project's own set-up (and a clear message when it is missing)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtst.io import MARKER
from mtst.augment import augment_rows
from mtst.augment.eda import OPS, Synonyms, apply, random_deletion, random_swap
from mtst.augment.protect import Protector, load_vader_lexicon
from mtst.augment.wordnet import (
    LEXNAMES_30,
    LEXNAMES_MAN,
    WordNetMissing,
    install,
    lexnames_from_man,
    lexnames_text,
    load_wordnet,
    missing_files,
    wordnet_dir,
)
from mtst.cli import app
from mtst.config import AugmentOp, AugmentParams, PrepareParams, ValidateParams
from mtst.steps import augment, prepare, validate

SMALL = PrepareParams(task_a_train_limit=100, task_b_train_limit=150, validation_limit=100, test_limit=150)
NO_WORDNET = {"synonym": AugmentOp(copies=0), "insert": AugmentOp(copies=0)}


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def wordnet_root(repo_root) -> Path:
    """The project's WordNet (`make wordnet`); installed here the same way if a bare checkout lacks it."""
    root = repo_root / ".cache" / "nltk_data"
    if missing_files(wordnet_dir(root)):
        install(root)
    return root


@pytest.fixture(scope="module")
def splits(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("augment") / "splits"
    prepare.run(SMALL, data_dir, out)
    return out


@pytest.fixture(scope="module")
def protector() -> Protector:
    return Protector(load_vader_lexicon(), min_valence=0.5, negation_window=3)


@pytest.fixture(scope="module")
def default_run(splits, wordnet_root, tmp_path_factory):
    """Default params (all four operations, output check on), splits hashed before and after."""
    out = tmp_path_factory.mktemp("augment_out") / "augmented"
    before = digest(splits)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NLTK_DATA", str(wordnet_root))
        summary = augment.run(AugmentParams(), splits, out)
    return out, summary, before


def test_only_the_task_b_training_split_is_augmented(default_run, splits):
    out, summary, before = default_run
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [MARKER, "summary.json",
                                                                                      "task_b/train.jsonl"]
    assert digest(splits) == before  # validation and test (and everything else) untouched
    rows = rows_of(out / "task_b" / "train.jsonl")
    originals = rows_of(splits / "task_b" / "train.jsonl")
    assert rows[:len(originals)] == [{**r, "source_id": r["id"], "augmentation": None} for r in originals]
    assert summary["source_rows"] == 150 and summary["total_rows"] == len(rows)
    assert summary["augmented_rows"] == len(rows) - 150 > 500  # 4 operations x 1 copy, a few skipped


def test_every_new_row_records_its_source_and_operation(default_run, splits):
    out, summary, _ = default_run
    originals = {r["id"]: r for r in rows_of(splits / "task_b" / "train.jsonl")}
    new = [r for r in rows_of(out / "task_b" / "train.jsonl") if r["augmentation"] is not None]
    per_source: dict[str, int] = {}
    for row in new:
        source = originals[row["source_id"]]
        k = per_source.get(row["source_id"], 0)
        per_source[row["source_id"]] = k + 1
        assert row["id"] == f"{source['id']}~aug{k}"
        assert row["augmentation"] in OPS and row["text"] != source["text"] and row["text"].strip()
        for column in ("label", "group", "split", "domain", "rating"):
            assert row[column] == source[column]
    counts = {op: sum(r["augmentation"] == op for r in new) for op in OPS}
    assert counts == {op: summary["operations"][op]["created"] for op in OPS}
    assert all(counts[op] > 100 for op in OPS)
    assert all(len(summary["samples"][op]) == 3 for op in OPS)


def test_protected_words_and_negation_windows_survive_every_operation(default_run, splits, protector):
    out, _, _ = default_run
    originals = {r["id"]: r["text"].split() for r in rows_of(splits / "task_b" / "train.jsonl")}
    checked_negations = 0
    for row in rows_of(out / "task_b" / "train.jsonl"):
        if row["augmentation"] is None:
            continue
        source, tokens = originals[row["source_id"]], row["text"].split()
        assert protector.protected_sequence(tokens) == protector.protected_sequence(source), row
        for span in protector.negation_spans(source):
            assert any(tokens[i:i + len(span)] == span for i in range(len(tokens))), (span, row)
            checked_negations += 1
    assert checked_negations > 20


def test_the_rule_on_a_sentence_with_negation_and_sentiment(wordnet_root, monkeypatch, protector):
    monkeypatch.setenv("NLTK_DATA", str(wordnet_root))
    synonyms = Synonyms(load_wordnet(), protector)
    source = "The plot of this movie was not very original and the actors seemed terrible , sadly".split()
    locked = [t for t, is_locked in zip(source, protector.locked(source)) if is_locked]
    # "not" + its 3-token window; sentiment words (original 1.3, terrible -2.1, sadly -2.1); booster "very"
    assert locked == ["not", "very", "original", "and", "terrible", "sadly"]
    changed = {op: 0 for op in OPS}
    for seed in range(40):
        for op in OPS:
            tokens = apply(op, source, 0.2, random.Random(seed), protector, synonyms)
            assert protector.protected_sequence(tokens) == ["not", "very", "original", "terrible", "sadly"]
            assert "not very original and" in " ".join(tokens)
            changed[op] += tokens != source
    assert all(count >= 35 for count in changed.values()), changed  # the operations really do something
    assert "terrible" not in synonyms("bad") and "good" not in synonyms("well")  # no sentiment words come in


def test_swap_and_delete_never_touch_locked_tokens(protector):
    tokens = "I don't like cold pizza".split()
    for seed in range(30):
        assert random_swap(tokens, 3, random.Random(seed), protector) == tokens  # one movable token: no swap
    tokens = "so I do n't like the cold pizza here".split()  # n't + window: like, the, cold
    for seed in range(30):
        swapped = random_swap(tokens, 3, random.Random(seed), protector)
        assert swapped[3:7] == ["n't", "like", "the", "cold"] and sorted(swapped) == sorted(tokens)
    tokens = "never again will I eat at this awful place".split()
    for seed in range(30):
        kept = random_deletion(tokens, 0.9, random.Random(seed), protector)
        assert kept[:4] == ["never", "again", "will", "I"] and "awful" in kept and len(kept) < len(tokens)


def test_augmentation_is_seeded_and_deterministic(splits, wordnet_root, monkeypatch, tmp_path, default_run):
    monkeypatch.setenv("NLTK_DATA", str(wordnet_root))
    params = AugmentParams(validate_output=False)
    augment.run(params, splits, tmp_path / "a")
    assert (tmp_path / "a" / "task_b" / "train.jsonl").read_bytes() == \
        (default_run[0] / "task_b" / "train.jsonl").read_bytes()
    augment.run(params.model_copy(update={"seed": 14}), splits, tmp_path / "b")
    assert (tmp_path / "a" / "task_b" / "train.jsonl").read_bytes() != \
        (tmp_path / "b" / "task_b" / "train.jsonl").read_bytes()


def test_synonym_off_works_without_wordnet_and_ops_are_independent(splits, tmp_path, monkeypatch, default_run):
    """No WordNet at all: swap and deletion still run, and give the same rows as with all four operations on."""
    empty = tmp_path / "empty_nltk_data"
    empty.mkdir()
    monkeypatch.setenv("NLTK_DATA", str(empty))
    summary = augment.run(AugmentParams(**NO_WORDNET), splits, tmp_path / "out")
    assert set(summary["operations"]) == {"swap", "delete"} and summary["output_check"]["success"]
    key = lambda r: (r["source_id"], r["augmentation"], r["text"])  # noqa: E731
    alone = {key(r) for r in rows_of(tmp_path / "out" / "task_b" / "train.jsonl") if r["augmentation"]}
    together = {key(r) for r in rows_of(default_run[0] / "task_b" / "train.jsonl")
                if r["augmentation"] in ("swap", "delete")}
    assert alone == together


def test_missing_wordnet_says_how_to_install_it(splits, tmp_path, monkeypatch):
    empty = tmp_path / "empty_nltk_data"
    empty.mkdir()
    monkeypatch.setenv("NLTK_DATA", str(empty))
    with pytest.raises(WordNetMissing) as info:
        augment.run(AugmentParams(), splits, tmp_path / "out")
    message = str(info.value)
    for text in (str(empty / "corpora" / "wordnet"), "make wordnet", "apt-get install", "wordnet-base",
                 "mtst wordnet install", "augment.synonym.copies: 0"):
        assert text in message
    assert not (tmp_path / "out").exists()
    params = tmp_path / "params.yaml"
    params.write_text("augment:\n  seed: 1\n")
    result = CliRunner().invoke(app, ["augment", "--splits", str(splits), "--out", str(tmp_path / "out"),
                                      "--params", str(params)])
    assert result.exit_code == 2 and "make wordnet" in result.output and "Traceback" not in result.output


def test_a_copy_that_can_only_repeat_a_taken_text_is_skipped(protector):
    record = {"id": "x#0", "text": "alpha beta", "label": "neutral", "group": "x", "split": "train"}
    params = AugmentParams(synonym=AugmentOp(copies=0), insert=AugmentOp(copies=0), delete=AugmentOp(copies=0))
    rows, stats = augment_rows([record], params, protector, None, taken={"alpha beta", "beta alpha"}, progress=False)
    assert rows == [] and stats == {"swap": {"created": 0, "skipped": 1}}
    rows, stats = augment_rows([record], params, protector, None, taken={"alpha beta"}, progress=False)
    assert [r["text"] for r in rows] == ["beta alpha"] and rows[0]["source_id"] == "x#0"


def test_validation_passes_on_the_augmented_split(default_run, splits):
    out, summary, _ = default_run
    assert summary["output_check"]["success"]
    report = validate.run(ValidateParams(), splits, None, data_dir=None, augmented_dir=out)
    assert report["success"]
    assert any(p.endswith("task_b/train.jsonl") and v["rows"] == summary["total_rows"]
               for p, v in report["files"].items())


def test_cli_augment_with_a_progress_bar(splits, tmp_path, wordnet_root, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(wordnet_root))
    params = tmp_path / "params.yaml"
    params.write_text("augment:\n  synonym: {rate: 0.2, copies: 2}\n  insert: {copies: 0}\n  swap: {copies: 0}\n"
                      "  delete: {copies: 0}\n  validate_output: false\n")
    result = CliRunner().invoke(app, ["augment", "--splits", str(splits), "--out", str(tmp_path / "out"),
                                      "--params", str(params), "--progress"])
    assert result.exit_code == 0, result.output
    assert "augment task_b/train" in result.output  # tqdm's bar
    summary = json.loads(result.output[result.output.index("{"):])
    assert list(summary["operations"]) == ["synonym"] and summary["operations"]["synonym"]["copies"] == 2
    assert summary["augmented_rows"] > 200


# ---- WordNet set-up ------------------------------------------------------------------------------------------

@pytest.mark.skipif(not LEXNAMES_MAN.exists(), reason="the lexnames(5WN) man page is not installed")
def test_lexnames_from_the_man_page_match_the_builtin_table():
    assert lexnames_from_man() == list(LEXNAMES_30)


def test_lexnames_file_format():
    lines = lexnames_text(LEXNAMES_30).splitlines()
    assert len(lines) == 45 and lines[0] == "00\tadj.all\t3" and lines[18] == "18\tnoun.person\t1"
    assert lines[44] == "44\tadj.ppl\t3" and lines[29] == "29\tverb.body\t2"


def test_install_copies_real_files_that_nltk_reads(tmp_path, wordnet_root, monkeypatch):
    root = tmp_path / "nltk_data"
    done = install(root, apt=False, source=wordnet_root / "corpora" / "wordnet")
    assert done["action"] == "installed" and done["synsets_of_good"] > 10
    target = wordnet_dir(root)
    assert missing_files(target) == [] and not any(p.is_symlink() for p in target.iterdir())
    assert install(root, apt=False)["action"] == "already installed"
    monkeypatch.setenv("NLTK_DATA", str(root))
    assert {l.name() for s in load_wordnet().synsets("film") for l in s.lemmas()} >= {"movie", "picture"}


def test_install_without_debian_files_and_without_apt_explains(tmp_path):
    with pytest.raises(WordNetMissing, match="wordnet-base wordnet-sense-index"):
        install(tmp_path / "nltk_data", apt=False, source=tmp_path / "nowhere")
    assert not (tmp_path / "nltk_data").exists()


def test_nltk_standard_api_reads_the_installed_wordnet(wordnet_root):
    code = "from nltk.corpus import wordnet; print(len(wordnet.synsets('good')), wordnet.get_version())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "NLTK_DATA": str(wordnet_root)})
    assert proc.returncode == 0, proc.stderr
    count, version = proc.stdout.split()
    assert int(count) > 10 and version == "3.0"
