"""Key finding from a 12-bin pitch-class profile (the Krumhansl–Schmuckler method).

The profile (how much each pitch class sounds, index 0 = C) is correlated with a profile of
each of the 24 major and minor keys; the best Pearson correlation wins. The key profiles are
Temperley's, counted from the Kostka–Payne harmony textbook corpus (Temperley 2007, "Music and
Probability"; the numbers music21 and Humdrum's keycor use): unlike Krumhansl–Kessler's
listening-test profiles, they keep a bare triad in its own key (C–E–G is C major with a clear
margin, where Krumhansl–Kessler nearly calls it E minor) and they score minor cadences with a
leading tone firmly as minor. The catalog's analysis and the composition engine both use
these, so the engine's estimates agree with the catalog's key hints.

Rotating the input rotates every correlation with it, so the estimate is
transposition-equivariant: rotate the profile by n and the tonic moves by n. Only profiles
with a symmetry (a whole-tone scale, all twelve notes equally) tie; ties go to the lowest
tonic, major before minor.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Mode = Literal["major", "minor"]

MAJOR_PROFILE = np.array(
    [0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400]
)
MINOR_PROFILE = np.array(
    [0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330]
)


def _templates() -> np.ndarray:
    """(24, 12) z-scored key profiles: rows 0..11 major on C..B, 12..23 minor."""
    rows = [np.roll(MAJOR_PROFILE, t) for t in range(12)]
    rows += [np.roll(MINOR_PROFILE, t) for t in range(12)]
    templates = np.array(rows)
    templates -= templates.mean(axis=1, keepdims=True)
    unit: np.ndarray = templates / np.linalg.norm(templates, axis=1, keepdims=True)
    return unit


_TEMPLATES = _templates()


def key_correlations(profile: np.ndarray) -> np.ndarray:
    """Pearson correlation of the profile with each of the 24 keys (major C..B, then minor
    C..B); all zeros when the profile is flat (nothing to estimate from) or not finite."""
    p = np.asarray(profile, dtype=np.float64).reshape(12)
    centred = p - p.mean()
    norm = float(np.linalg.norm(centred))
    if not np.isfinite(norm) or norm <= 1e-12 * max(1.0, float(np.abs(p).max())):
        return np.zeros(24)
    return np.asarray(_TEMPLATES @ (centred / norm))


def best_key(correlations: np.ndarray, *, tonic: int | None = None) -> tuple[int, Mode]:
    """The (tonic, mode) with the best of `key_correlations`; with `tonic` given, only its
    mode is chosen. Ties go to the lowest tonic, major before minor: rounding makes a tie a
    tie despite the last bits of floating-point sums. All zeros give C major."""
    scores = np.round(correlations, 9)
    if tonic is not None:
        return tonic, "major" if scores[tonic] >= scores[tonic + 12] else "minor"
    best = int(np.argmax(scores))
    return best % 12, "major" if best < 12 else "minor"


def key_index(tonic: int, mode: Mode) -> int:
    """The key's position in `key_correlations` (0..11 major, 12..23 minor)."""
    return tonic % 12 + (12 if mode == "minor" else 0)
