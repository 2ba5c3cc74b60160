"""Trigram search: typos still find the song, unrelated words do not."""

from __future__ import annotations

import pytest

from cadenza.catalog.text_search import MIN_SCORE, score, trigrams


def test_trigrams_follow_pg_trgm_padding() -> None:
    assert trigrams("Cat") == ["  c", " ca", "cat", "at "]
    assert trigrams("a-b") == ["  a", " a ", "  b", " b "]


def test_accents_and_case_do_not_matter() -> None:
    assert trigrams("HÄNDEL") == trigrams("handel")


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("chrst lag", "Christ lag in Todesbanden"),
        ("bach chorle", "Chorale BWV 66.6 J. S. Bach"),
        ("greensleves", "Greensleeves Traditional"),
        ("mozrt", "Eine kleine Nachtmusik Mozart"),
    ],
)
def test_typos_still_match(query: str, title: str) -> None:
    measured = score(trigrams(query), trigrams(title))
    assert measured >= MIN_SCORE, measured


@pytest.mark.parametrize(
    ("query", "title"),
    [("greensleeves", "Christ lag in Todesbanden"), ("mozart", "Chorale BWV 66.6 Bach")],
)
def test_unrelated_words_do_not(query: str, title: str) -> None:
    assert score(trigrams(query), trigrams(title)) < MIN_SCORE


def test_empty_query_scores_zero() -> None:
    assert trigrams("  --  ") == []
    assert score([], trigrams("anything")) == 0.0
