"""The quote check: a source's phrase is caught transposed, re-rhythmed or with a note split
in two, and the longest run says where it came from; the corpus index built from tokens
finds what the line-by-line one finds."""

from __future__ import annotations

import numpy as np

from cadenza.composition.learned.quotes import LIMIT, QuoteIndex

PHRASE = [(62, 4), (64, 2), (66, 2), (67, 4), (69, 4), (71, 2), (69, 2), (67, 4), (66, 4), (64, 8)]
OTHER = [(50, 2), (52, 2), (52, 2), (55, 1), (57, 3)]


def _index() -> QuoteIndex:
    return QuoteIndex([PHRASE, OTHER], ["the source (voice 1)", "another (voice 1)"])


def test_a_transposed_copy_is_caught_with_and_without_rhythm() -> None:
    copy = [(40, 4)] + [(p - 5, d) for p, d in PHRASE] + [(30, 2)]
    index = _index()
    with_rhythm, pitches = index.longest(copy, "with_rhythm"), index.longest(copy, "pitches")
    assert (with_rhythm.notes, with_rhythm.label, with_rhythm.exact) == (
        10,
        "the source (voice 1)",
        True,
    )
    assert pitches.notes == 10
    assert {q.kind for q in index.copies(copy)} == {"with_rhythm", "pitches"}


def test_a_re_rhythmed_quote_passes_the_rhythm_check_and_is_caught_by_the_pitch_check() -> None:
    rhythms = [2, 6, 2, 2, 8, 2, 2, 4, 2, 6]
    quote = [(p + 3, r) for (p, _), r in zip(PHRASE, rhythms, strict=True)]
    index = _index()
    assert index.longest(quote, "with_rhythm").notes <= 3
    caught = index.copies(quote)
    assert [(q.kind, q.notes, q.label) for q in caught] == [("pitches", 10, "the source (voice 1)")]


def test_descending_semitones_are_intervals_like_any_other() -> None:
    falling = [(72 - i, 4) for i in range(12)]
    index = QuoteIndex([falling], ["chromatic"])
    assert index.longest([(p + 3, 2) for p, _ in falling], "pitches").notes == 12


def test_runs_up_to_the_limit_are_allowed() -> None:
    eight = [(p + 1, d) for p, d in PHRASE[:LIMIT]] + [(90, 4)]
    assert _index().copies(eight) == []
    nine = [(p + 1, d) for p, d in PHRASE[: LIMIT + 1]] + [(90, 4)]
    assert [q.notes for q in _index().copies(nine)] == [9, 9]


def test_every_run_over_the_limit_is_reported_not_only_the_longest() -> None:
    # Two copies of the phrase in one line, apart: breaking the first must not leave the
    # second hidden behind it (the guard breaks runs one at a time until none is left).
    line = [(p + 2, d) for p, d in PHRASE] + [(20, 4), (90, 4)] + [(p - 3, d) for p, d in PHRASE]
    runs = [(q.kind, q.notes, q.query_start) for q in _index().copies(line)]
    assert sorted(runs) == [
        ("pitches", 10, 0),
        ("pitches", 10, 12),
        ("with_rhythm", 10, 0),
        ("with_rhythm", 10, 12),
    ]
    # A run inside a longer one is not counted again.
    assert [q.notes for q in _index().copies(PHRASE) if q.kind == "pitches"] == [10]


def test_short_shared_runs_are_reported_as_a_bound() -> None:
    found = _index().longest([(80, 4), (30, 4), (85, 2)], "with_rhythm")
    assert not found.exact and found.as_dict() == {"notes_at_most": 3}


def test_the_index_built_from_note_arrays_agrees_with_the_line_by_line_one() -> None:
    rng = np.random.default_rng(5)
    lines = [
        [(int(60 + x), int(d)) for x, d in zip(np.cumsum(rng.integers(-3, 4, n)),
                                               rng.choice([2, 4, 8], n), strict=True)]
        for n in (40, 25, 60)
    ]  # fmt: skip
    labels = ["a", "b", "c"]
    line_ids = np.concatenate([[i] * len(line) for i, line in enumerate(lines)])
    pitches = np.array([p for line in lines for p, _ in line])
    durations = np.array([d for line in lines for _, d in line])
    by_arrays = QuoteIndex.of_notes(line_ids, pitches, durations, labels)
    by_lines = QuoteIndex(lines, labels)
    for query in (lines[1][5:20], lines[2][30:], [(p + 7, d) for p, d in lines[0][3:15]]):
        for kind in ("with_rhythm", "pitches"):
            assert by_arrays.longest(query, kind) == by_lines.longest(query, kind)
