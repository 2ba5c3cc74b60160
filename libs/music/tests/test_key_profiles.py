"""Key finding on pitch-class profiles: scales are found in their own key, and the estimate
moves with transposition."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.music import MAJOR_PROFILE, MINOR_PROFILE, best_key, key_correlations, key_index

C_MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11]
A_HARMONIC_MINOR_SCALE = [9, 11, 0, 2, 4, 5, 8]


def profile(pitch_classes: list[int], tonic_weight: float = 2.0) -> np.ndarray:
    """Each scale note once, the first (the tonic) weighted more, as a melody dwells on it."""
    counts = np.zeros(12)
    for pc in pitch_classes:
        counts[pc] += 1.0
    counts[pitch_classes[0]] += tonic_weight - 1.0
    return counts


def test_a_c_major_scale_is_c_major() -> None:
    assert best_key(key_correlations(profile(C_MAJOR_SCALE))) == (0, "major")


def test_an_a_minor_scale_is_a_minor() -> None:
    assert best_key(key_correlations(profile(A_HARMONIC_MINOR_SCALE))) == (9, "minor")


def test_the_key_profiles_find_themselves() -> None:
    for shift in range(12):
        assert best_key(key_correlations(np.roll(MAJOR_PROFILE, shift))) == (shift, "major")
        assert best_key(key_correlations(np.roll(MINOR_PROFILE, shift))) == (shift, "minor")
        correlations = key_correlations(np.roll(MINOR_PROFILE, shift))
        assert correlations[key_index(shift, "minor")] == pytest.approx(1.0)


def test_transposing_the_profile_moves_the_tonic() -> None:
    p = profile(C_MAJOR_SCALE)
    for n in range(12):
        assert best_key(key_correlations(np.roll(p, n))) == (n, "major")


def test_with_a_tonic_given_only_the_mode_is_chosen() -> None:
    a_minor = key_correlations(profile(A_HARMONIC_MINOR_SCALE))
    assert best_key(a_minor, tonic=9) == (9, "minor")
    assert best_key(a_minor, tonic=0)[0] == 0


@pytest.mark.parametrize(
    "flat",
    [np.zeros(12), np.ones(12), np.full(12, 1e6), np.full(12, np.nan)],
    ids=["silence", "all-equal", "all-equal-large", "nan"],
)
def test_nothing_to_estimate_from_gives_zeros_and_c_major(flat: np.ndarray) -> None:
    correlations = key_correlations(flat)
    assert not correlations.any()
    assert best_key(correlations) == (0, "major")


def test_scale_does_not_matter() -> None:
    p = profile(A_HARMONIC_MINOR_SCALE)
    assert np.allclose(key_correlations(p * 1000), key_correlations(p))
