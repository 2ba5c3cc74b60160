"""The engine's building blocks on their own: key names, degrees between modes, key
estimation, the form's arithmetic, and the n-gram model's credit to its sources."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cadenza.composition.engine import BlendError, parse_key
from cadenza.composition.engine.form import STYLES, phrases_of, plan_sections
from cadenza.composition.engine.markov import NGramModel, Tally, temper_for
from cadenza.composition.engine.theory import Chord, Key, estimate_key, map_chord


@pytest.mark.parametrize(
    ("text", "tonic", "mode", "name"),
    [
        ("A minor", 9, "minor", "A minor"),
        ("F#", 6, "major", "F# major"),
        ("Eb major", 3, "major", "Eb major"),
        ("Am", 9, "minor", "A minor"),
        ("bb min", 10, "minor", "Bb minor"),
        ("C♯ minor", 1, "minor", "C# minor"),
        ("g", 7, "major", "G major"),
    ],
)
def test_key_names_parse(text: str, tonic: int, mode: str, name: str) -> None:
    key, _ = parse_key(text)
    assert (key.tonic, key.mode, key.name) == (tonic, mode, name)


@pytest.mark.parametrize("text", ["H major", "C dorian", "", "A minor minor", "C##"])
def test_other_text_is_not_a_key(text: str) -> None:
    with pytest.raises(BlendError, match="is not a key"):
        parse_key(text)


def test_chords_are_spelt_and_numbered_in_the_key() -> None:
    f_sharp_minor = Key(6, "minor")
    assert Chord(11, "dim").symbol(f_sharp_minor) == "E#dim"  # the leading tone's letter
    assert [Chord(7, "7").degree("minor"), Chord(11, "dim").degree("minor")] == ["V7", "vii°"]
    c_major = Key(0, "major")
    assert [Chord(10, "maj").symbol(c_major), Chord(10, "maj").degree("major")] == ["Bb", "bVII"]
    assert Chord(2, "m7").symbol(Key(3, "major")) == "Fm7"


def test_degrees_move_between_major_and_minor() -> None:
    pairs = [
        (Chord(0, "maj"), Chord(0, "min")),  # I → i
        (Chord(2, "min"), Chord(2, "dim")),  # ii → ii°
        (Chord(9, "min"), Chord(8, "maj")),  # vi → VI
        (Chord(7, "7"), Chord(7, "7")),  # V7 stays
        (Chord(2, "maj"), Chord(2, "maj")),  # V/V is chromatic in both: kept
    ]
    for major, minor in pairs:
        assert map_chord(major, "major", "minor") == minor
    assert map_chord(Chord(7, "min"), "minor", "major") == Chord(7, "maj")  # v → V


def test_key_estimation_from_pitch_class_profiles() -> None:
    c_triad = np.zeros(12)
    c_triad[[0, 4, 7]] = 1.0
    assert estimate_key(c_triad) == Key(0, "major")
    a_harmonic_minor = np.zeros(12)
    a_harmonic_minor[[9, 11, 0, 2, 4, 5, 8]] = [3, 1, 2, 1, 2, 1, 1]
    assert estimate_key(a_harmonic_minor) == Key(9, "minor")
    assert estimate_key(np.roll(a_harmonic_minor, 2)) == Key(11, "minor")


@pytest.mark.parametrize("style", STYLES)
def test_sections_fill_every_length(style: str) -> None:
    for bars in range(1, 513):
        sections = plan_sections(bars, style)  # type: ignore[arg-type]
        assert sum(s.bars for s in sections) == bars
        assert sections[0].start_bar == 0
        assert all(a.end_bar == b.start_bar for a, b in itertools.pairwise(sections))
        phrases = phrases_of(sections)
        assert sum(p.bars for p in phrases) == bars
        assert all(1 <= p.bars <= 7 or len(sections) == 1 for p in phrases)


def test_the_form_of_a_three_minute_song() -> None:
    names = [(s.name, s.bars) for s in plan_sections(90, "pop")]
    assert names == [
        ("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8), ("verse", 8),
        ("chorus", 8), ("verse", 8), ("chorus", 8), ("bridge", 8), ("chorus", 10), ("outro", 4),
    ]  # fmt: skip
    assert "bridge" not in [s.name for s in plan_sections(90, "folk")]


def test_draws_credit_the_sources_that_taught_them() -> None:
    model: NGramModel[str] = NGramModel(n_sources=2)
    model.fit(0, list("abcabcabc"))
    model.fit(1, list("abdabd"))
    rng = np.random.default_rng(0)
    temper = temper_for(0.0)
    tally = Tally(2)
    for _ in range(200):
        draw = model.draw(rng, ["a", "b"], ["c", "d"], temper)
        assert draw.per_source.sum() + draw.rules == pytest.approx(1.0)
        if draw.token == "c":
            assert draw.per_source[1] == 0  # only the first source continues "ab" with c
        tally.add(draw)
    shares = tally.per_source / tally.per_source.sum()
    assert shares[0] > shares[1] > 0.2  # the first taught "abc" three times, the second twice
    unseen = model.draw(rng, ["x"], ["z"], temper)
    assert (unseen.token, unseen.rules) == ("z", 1.0)


def test_creativity_sets_order_temperature_and_wandering() -> None:
    calm, wild = temper_for(0.0), temper_for(1.0)
    assert (calm.max_order, wild.max_order) == (3, 1)
    assert calm.temperature < wild.temperature
    assert calm.wander < wild.wander
