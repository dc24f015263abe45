"""EDA operations (Wei & Zou, 2019, "EDA: Easy Data Augmentation Techniques for Boosting Performance on Text
Classification Tasks"): synonym replacement, random insertion, random swap, random deletion.

Differences from the reference implementation, all deliberate:

- Sentences keep their case and punctuation: tokens are whitespace tokens, a synonym takes over the
  replaced word's surrounding punctuation and capitalisation (EDA lower-cases and strips everything).
- Locked tokens (negations, sentiment words, boosters, negation windows; see ``mtst.augment.protect``)
  are never replaced, deleted or moved, and insertions never land inside a negation window.
- WordNet synonyms come from nltk's reader over the Debian WordNet 3.0 (see ``mtst.augment.wordnet``),
  without a POS tagger (as in EDA); synonyms that are protected words, or that contain anything but
  letters, spaces, hyphens and apostrophes, are dropped.
- Random deletion deletes each unlocked token with probability ``rate`` but at least one, so the output
  always differs from its source; it never deletes every token.

Every function is pure given its ``random.Random``; ``augment_text`` seeds one from
``(seed, source id, operation, copy, attempt)``, so a row's augmentations do not depend on row order or on
which other operations are enabled.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from mtst.augment.protect import Protector, split_affixes

OPS = ("synonym", "insert", "swap", "delete")
WORDNET_OPS = ("synonym", "insert")

# EDA's stop-word list (the NLTK English list it ships), minus negations, which are protected anyway.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers herself
it its itself they them their theirs themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until while of at by for with
about against between into through during before after above below to from up down in out on off over under
again further then once here there when where why how all any both each few more most other some such only own
same so than too very s t can will just don should now
""".split())

_SYNONYM_OK = re.compile(r"[A-Za-z][A-Za-z' -]*")


def match_case(template: str, word: str) -> str:
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


class Synonyms:
    """WordNet synonyms of a word, filtered so that no synonym is protected (cached per word)."""

    def __init__(self, wordnet: Any, protector: Protector) -> None:
        self.wordnet = wordnet
        self.protector = protector
        self._cached: Callable[[str], tuple[str, ...]] = lru_cache(maxsize=None)(self._lookup)

    def _lookup(self, word: str) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for synset in self.wordnet.synsets(word):
            for lemma in synset.lemmas():
                name = lemma.name().replace("_", " ")
                if (name.lower() != word and _SYNONYM_OK.fullmatch(name)
                        and not self.protector.protects_any(name)):
                    found.setdefault(name.lower() if name[:1].islower() else name, None)
        return tuple(found)

    def __call__(self, word: str) -> tuple[str, ...]:
        return self._cached(word.lower())


def _candidates(tokens: list[str], locked: list[bool]) -> list[int]:
    """Positions whose word may get a synonym: unlocked, alphabetic, not a stop word."""
    return [i for i, t in enumerate(tokens)
            if not locked[i] and split_affixes(t)[1].isalpha() and split_affixes(t)[1].lower() not in STOP_WORDS]


def synonym_replacement(tokens: list[str], n: int, rng: random.Random, protector: Protector,
                        synonyms: Synonyms) -> list[str]:
    """Replace up to ``n`` distinct unlocked non-stop words with a random WordNet synonym."""
    out = list(tokens)
    locked = protector.locked(out)
    positions = _candidates(out, locked)
    rng.shuffle(positions)
    replaced = 0
    for i in positions:
        prefix, core, suffix = split_affixes(out[i])
        options = synonyms(core)
        if not options:
            continue
        out[i] = prefix + match_case(core, rng.choice(options)) + suffix
        replaced += 1
        if replaced >= n:
            break
    return out


def random_insertion(tokens: list[str], n: int, rng: random.Random, protector: Protector,
                     synonyms: Synonyms) -> list[str]:
    """``n`` times: insert a synonym of a random unlocked non-stop word at a random open position."""
    out = list(tokens)
    for _ in range(n):
        positions = _candidates(out, protector.locked(out))
        options: tuple[str, ...] = ()
        for _attempt in range(10):  # EDA tries 10 random words before giving up
            if not positions:
                break
            options = synonyms(split_affixes(out[rng.choice(positions)])[1])
            if options:
                break
        if not options:
            return out
        closed = protector.closed_gaps(out)
        gaps = [g for g in range(len(out) + 1) if g not in closed]
        out.insert(rng.choice(gaps), rng.choice(options).lower())
    return out


def random_swap(tokens: list[str], n: int, rng: random.Random, protector: Protector) -> list[str]:
    """``n`` times: swap two unlocked tokens (locked tokens keep their positions)."""
    out = list(tokens)
    movable = [i for i, is_locked in enumerate(protector.locked(out)) if not is_locked]
    if len(movable) < 2:
        return out
    for _ in range(n):
        a, b = rng.sample(movable, 2)
        out[a], out[b] = out[b], out[a]
    return out


def random_deletion(tokens: list[str], p: float, rng: random.Random, protector: Protector) -> list[str]:
    """Delete each unlocked token with probability ``p`` (at least one; never all tokens)."""
    locked = protector.locked(tokens)
    deletable = [i for i, is_locked in enumerate(locked) if not is_locked]
    if not deletable or len(tokens) < 2:
        return list(tokens)
    drop = {i for i in deletable if rng.random() < p} or {rng.choice(deletable)}
    if len(drop) == len(tokens):
        drop.discard(rng.choice(sorted(drop)))
    return [t for i, t in enumerate(tokens) if i not in drop]


def apply(op: str, tokens: list[str], rate: float, rng: random.Random, protector: Protector,
          synonyms: Synonyms | None) -> list[str]:
    n = max(1, int(rate * len(tokens)))
    if op == "synonym":
        assert synonyms is not None
        return synonym_replacement(tokens, n, rng, protector, synonyms)
    if op == "insert":
        assert synonyms is not None
        return random_insertion(tokens, n, rng, protector, synonyms)
    if op == "swap":
        return random_swap(tokens, n, rng, protector)
    if op == "delete":
        return random_deletion(tokens, rate, rng, protector)
    raise ValueError(f"unknown EDA operation {op!r}; expected one of {OPS}")


def rng_for(seed: int, source_id: str, op: str, copy: int, attempt: int) -> random.Random:
    """A generator that depends only on these values (str seeds hash with SHA-512: stable across runs)."""
    return random.Random(f"{seed}|{source_id}|{op}|{copy}|{attempt}")


def augment_text(text: str, op: str, rate: float, rng: random.Random, protector: Protector,
                 synonyms: Synonyms | None) -> str:
    return " ".join(apply(op, text.split(), rate, rng, protector, synonyms))
