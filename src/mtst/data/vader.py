"""Task B: the VADER ground-truth sentences (Hutto & Gilbert, ICWSM-14; MIT) from the vaderSentiment sdist.

Each line is ``id<TAB>mean_rating<TAB>text`` with ratings in [-4, 4] from at least 20 raters. The mean
rating maps to negative / neutral / positive with thresholds from params.yaml; the domain is kept so
evaluation can report each of the four sets separately.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pandas as pd

INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
DOMAINS = {
    "tweets": "tweets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
LABELS = ("negative", "neutral", "positive")  # sorted: a task's labels are its data's, sorted (mtst.data.datasets)
NEGATIVE, NEUTRAL, POSITIVE = LABELS


def rating_to_label(rating: float, neg_threshold: float, pos_threshold: float) -> str:
    if rating <= neg_threshold:
        return NEGATIVE
    if rating >= pos_threshold:
        return POSITIVE
    return NEUTRAL


def load_vader(sdist: Path, neg_threshold: float = -0.5, pos_threshold: float = 0.5) -> pd.DataFrame:
    """Sentences with columns ``text, label, group, domain, rating`` (group = ``domain/id``)."""
    if not neg_threshold < pos_threshold:
        raise ValueError(f"neg_threshold {neg_threshold} must be below pos_threshold {pos_threshold}")
    with tarfile.open(sdist) as outer:
        inner_bytes = outer.extractfile(INNER).read()  # type: ignore[union-attr]
    rows = []
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for domain, filename in DOMAINS.items():
            raw = inner.extractfile(f"hutto_ICWSM_2014/{filename}").read()  # type: ignore[union-attr]
            for line in raw.decode("utf-8", errors="replace").splitlines():
                if not line.strip():
                    continue
                sid, rating, text = line.split("\t", 2)
                value = float(rating)
                rows.append({
                    "text": " ".join(text.split()),
                    "label": rating_to_label(value, neg_threshold, pos_threshold),
                    "group": f"{domain}/{sid}",
                    "domain": domain,
                    "rating": value,
                })
    return pd.DataFrame(rows, columns=["text", "label", "group", "domain", "rating"])
