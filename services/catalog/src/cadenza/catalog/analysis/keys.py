"""Key estimation from a 12-bin pitch-class profile (the Krumhansl–Schmuckler method).

The profile (how much each pitch class sounds, index 0 = C) is correlated with a profile of
each of the 24 major and minor keys; the best Pearson correlation wins. The key profiles are
Temperley's, counted from the Kostka–Payne harmony textbook corpus (Temperley 2007, "Music and
Probability"; the numbers music21 and Humdrum's keycor use): unlike Krumhansl–Kessler's
listening-test profiles, they keep a bare triad in its own key (C–E–G is C major with a clear
margin, where Krumhansl–Kessler nearly calls it E minor) and they score minor cadences with a
leading tone firmly as minor.

Rotating the input rotates every correlation with it, so the estimate is
transposition-equivariant: rotate the profile by n and the tonic moves by n. Only profiles
with a symmetry (a whole-tone scale, all twelve notes equally) tie; ties go to the lowest
tonic, major before minor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cadenza.contracts.catalog import PITCH_CLASSES

Mode = Literal["major", "minor"]

MAJOR_PROFILE = np.array(
    [0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400]
)
MINOR_PROFILE = np.array(
    [0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330]
)


@dataclass(frozen=True)
class KeyEstimate:
    tonic: int  # 0..11, 0 = C
    mode: Mode
    # Pearson correlation of the profile with the winning key's profile, clipped to 0..1;
    # 0 when there was nothing to estimate from (silence, drums only).
    confidence: float

    @property
    def name(self) -> str:
        return key_name(self.tonic, self.mode)


def key_name(tonic: int, mode: Mode) -> str:
    """The key's name with sharps, as the catalog's contracts spell pitch classes:
    "C major", "F# minor"."""
    return f"{PITCH_CLASSES[tonic % 12]} {mode}"


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
    """Correlation of the profile with each of the 24 keys (major C..B, then minor C..B)."""
    p = np.asarray(profile, dtype=np.float64).reshape(12)
    centred = p - p.mean()
    norm = float(np.linalg.norm(centred))
    if not np.isfinite(norm) or norm <= 1e-12 * max(1.0, float(np.abs(p).max())):
        return np.zeros(24)
    return np.asarray(_TEMPLATES @ (centred / norm))


def estimate_key(profile: np.ndarray) -> KeyEstimate:
    """The most likely key of a pitch-class profile (any non-negative scale)."""
    correlations = key_correlations(profile)
    if not correlations.any():
        return KeyEstimate(tonic=0, mode="major", confidence=0.0)
    # Rounding makes a tie a tie despite the last bits of floating-point sums.
    best = int(np.argmax(np.round(correlations, 9)))
    mode: Mode = "major" if best < 12 else "minor"
    return KeyEstimate(
        tonic=best % 12, mode=mode, confidence=float(np.clip(correlations[best], 0.0, 1.0))
    )
