"""Typo-tolerant text search by trigrams, computed the way PostgreSQL's pg_trgm does.

pg_trgm is not available everywhere (the embedded PostgreSQL ships only pgvector), so the
service computes each song's trigrams itself and stores them in a `text[]` column with a
GIN index: `&&` finds candidates that share a trigram, and the score is the share of the
query's trigrams found in the song (pg_trgm's word similarity, in spirit). A misspelt word
still shares most of its trigrams with the right one ("chrst" and "christ" share 4 of 6).
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Candidates must share at least this share of the query's trigrams.
MIN_SCORE = 0.4


def _fold(text: str) -> str:
    """Lower case without accents: "Händel" and "handel" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


def trigrams(text: str) -> list[str]:
    """The distinct trigrams of `text`, each word padded as pg_trgm pads it."""
    found: dict[str, None] = {}
    for word in words(text):
        padded = f"  {word} "
        for i in range(len(padded) - 2):
            found[padded[i : i + 3]] = None
    return list(found)


def score(query: list[str], document: list[str]) -> float:
    """Share of the query's trigrams present in the document (0..1)."""
    if not query:
        return 0.0
    have = set(document)
    return sum(1 for t in query if t in have) / len(query)
