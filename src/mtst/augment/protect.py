"""Which tokens augmentation must leave alone: negations and sentiment-bearing words (from VADER itself).

The rule (documented in the README):

- **Protected tokens** are (a) negations: VADER's ``NEGATE`` list plus any ``n't`` form; (b) sentiment
  words: entries of VADER's ``vader_lexicon.txt`` with ``|valence| >= augment.sentiment_min_valence``
  (words and emoticons); (c) VADER's intensity boosters/dampeners (``BOOSTER_DICT``: "very", "barely", ...).
- **Locked tokens** are the protected tokens plus the ``augment.negation_window`` tokens that follow each
  negation (VADER's own negation scope is 3 tokens).
- No operation deletes, replaces or moves a locked token, and random insertion never puts a word inside a
  negation window (between a negation and the end of its window). Synonyms that are themselves protected
  words are never used, so no operation adds sentiment or negation either. Consequence, checked by the
  tests: the sequence of protected tokens of an augmented sentence equals its source's, and every negation
  window appears in it unchanged.

The lexicon and the word lists are read from the pinned vaderSentiment sdist (the same archive Task B's
sentences come from), not copied into this repository.
"""

from __future__ import annotations

import ast
import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SDIST_ROOT = "vaderSentiment-3.3.2/vaderSentiment/"
_AFFIX = re.compile(r"^([^\w]*)(.*?)([^\w]*)$", re.DOTALL)
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


@dataclass(frozen=True)
class VaderLexicon:
    valence: dict[str, float]
    negations: frozenset[str]
    boosters: frozenset[str]


def _module_constants(source: str) -> tuple[list[str], list[str]]:
    """``NEGATE`` (a list literal) and the keys of ``BOOSTER_DICT`` from vaderSentiment.py, without running it."""
    negate: list[str] = []
    boosters: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "NEGATE":
                negate = list(ast.literal_eval(node.value))
            elif name == "BOOSTER_DICT" and isinstance(node.value, ast.Dict):
                boosters = [ast.literal_eval(k) for k in node.value.keys if k is not None]
    if not negate or not boosters:
        raise ValueError("vaderSentiment.py: NEGATE or BOOSTER_DICT not found")
    return negate, boosters


@lru_cache(maxsize=2)
def load_vader_lexicon(sdist: Path | None = None) -> VaderLexicon:
    """VADER's lexicon, negations and boosters from the pinned sdist (downloaded once, hash-verified)."""
    if sdist is None:
        from mtst.data.sources import VADER_ARCHIVE, ensure_archive

        sdist = ensure_archive(VADER_ARCHIVE)
    with tarfile.open(sdist) as archive:
        lexicon = archive.extractfile(SDIST_ROOT + "vader_lexicon.txt").read().decode("utf-8")  # type: ignore[union-attr]
        module = archive.extractfile(SDIST_ROOT + "vaderSentiment.py").read().decode("utf-8")  # type: ignore[union-attr]
    valence: dict[str, float] = {}
    for line in lexicon.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0]:
            valence[fields[0].lower()] = float(fields[1])  # later entries win, as in VADER's own dict
    negate, boosters = _module_constants(module)
    # multi-word boosters ("kind of") are matched word by word: protect single-word entries only
    return VaderLexicon(valence, frozenset(w.translate(_QUOTES) for w in negate),
                        frozenset(b for b in boosters if " " not in b))


def split_affixes(token: str) -> tuple[str, str, str]:
    """``'"Great!'`` -> ``('"', 'Great', '!')``: leading punctuation, the word, trailing punctuation."""
    match = _AFFIX.match(token)
    assert match is not None
    return match.group(1), match.group(2), match.group(3)


class Protector:
    """Decides, token by token, what augmentation may touch (see the module docstring for the rule)."""

    def __init__(self, lexicon: VaderLexicon, min_valence: float = 0.5, negation_window: int = 3) -> None:
        self.lexicon = lexicon
        self.min_valence = min_valence
        self.negation_window = negation_window
        self._sentiment = frozenset(w for w, v in lexicon.valence.items() if abs(v) >= min_valence)

    @property
    def sentiment_words(self) -> frozenset[str]:
        """Lexicon entries with ``|valence| >= min_valence``."""
        return self._sentiment

    def _forms(self, token: str) -> tuple[str, str]:
        raw = token.lower().translate(_QUOTES)
        return raw, split_affixes(raw)[1]

    def is_negation(self, token: str) -> bool:
        raw, core = self._forms(token)
        return core in self.lexicon.negations or raw in self.lexicon.negations or core.endswith("n't")

    def is_sentiment(self, token: str) -> bool:
        raw, core = self._forms(token)
        return raw in self._sentiment or core in self._sentiment

    def is_protected(self, token: str) -> bool:
        raw, core = self._forms(token)
        return self.is_negation(token) or self.is_sentiment(token) or core in self.lexicon.boosters

    def protects_any(self, phrase: str) -> bool:
        """True when any word of ``phrase`` is protected (such synonyms are never inserted)."""
        return any(self.is_protected(word) for word in phrase.split())

    def locked(self, tokens: list[str]) -> list[bool]:
        """Per token: protected, or inside the window that follows a negation."""
        locked = [self.is_protected(t) for t in tokens]
        for i, token in enumerate(tokens):
            if self.is_negation(token):
                for j in range(i + 1, min(len(tokens), i + 1 + self.negation_window)):
                    locked[j] = True
        return locked

    def closed_gaps(self, tokens: list[str]) -> set[int]:
        """Insertion positions (``tokens.insert(i, w)``) that would land inside a negation window."""
        closed: set[int] = set()
        for i, token in enumerate(tokens):
            if self.is_negation(token):
                closed.update(range(i + 1, min(len(tokens), i + self.negation_window) + 1))
        return closed

    def protected_sequence(self, tokens: list[str]) -> list[str]:
        return [t for t in tokens if self.is_protected(t)]

    def negation_spans(self, tokens: list[str]) -> list[list[str]]:
        return [tokens[i:i + 1 + self.negation_window] for i, t in enumerate(tokens) if self.is_negation(t)]
