"""Key estimation: known keys come out right, and transposing a profile moves the tonic."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.catalog.analysis.keys import estimate_key, key_name


def profile(pitches: list[int]) -> np.ndarray:
    return np.bincount(np.array(pitches) % 12, minlength=12).astype(float)


C_MAJOR_SCALE_AND_CADENCE = [0, 2, 4, 5, 7, 9, 11, 12, 0, 4, 7, 5, 9, 0, 7, 11, 2, 5, 0, 4, 7]
# Harmonic minor (G#) with i–iv–V–i.
A_MINOR_SCALE_AND_CADENCE = [9, 11, 0, 2, 4, 5, 8, 9, 9, 0, 4, 2, 5, 9, 4, 8, 11, 9, 0, 4]


def test_a_major_scale_and_cadence_is_c_major() -> None:
    key = estimate_key(profile(C_MAJOR_SCALE_AND_CADENCE))
    assert key_name(key.tonic, key.mode) == "C major"
    assert 0.8 < key.confidence <= 1.0


def test_a_harmonic_minor_cadence_is_a_minor() -> None:
    key = estimate_key(profile(A_MINOR_SCALE_AND_CADENCE))
    assert key.name == "A minor"


@pytest.mark.parametrize(("triad", "name"), [([0, 4, 7], "C major"), ([9, 0, 4], "A minor")])
def test_a_bare_triad_stays_in_its_own_key(triad: list[int], name: str) -> None:
    assert estimate_key(profile(triad)).name == name


def test_rotating_a_profile_moves_the_tonic_by_as_much() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        p = rng.random(12) ** 3
        base = estimate_key(p)
        for n in range(12):
            moved = estimate_key(np.roll(p, n))
            assert (moved.tonic, moved.mode) == ((base.tonic + n) % 12, base.mode)
            assert moved.confidence == pytest.approx(base.confidence)


def test_scale_of_the_profile_does_not_matter() -> None:
    p = profile(A_MINOR_SCALE_AND_CADENCE)
    assert estimate_key(p * 1000) == estimate_key(p)


def test_nothing_to_estimate_from_has_no_confidence() -> None:
    assert estimate_key(np.zeros(12)).confidence == 0.0
    assert estimate_key(np.ones(12)).confidence == 0.0


def test_key_names_use_sharps() -> None:
    assert key_name(6, "minor") == "F# minor"
    assert key_name(10, "major") == "A# major"
    assert key_name(0, "major") == "C major"
