"""Key estimation from a 12-bin pitch-class profile (the Krumhansl–Schmuckler method).

The method itself (Temperley's Kostka–Payne key profiles, the 24 correlations, ties to the
lowest tonic, major before minor) lives in `cadenza.music.key_profiles`, shared with the
composition engine so that its estimates agree with the catalog's key hints. This module adds
what the catalog stores: the estimate with the key's name and a confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cadenza.contracts.catalog import PITCH_CLASSES
from cadenza.music.key_profiles import Mode as Mode  # re-exported: the catalog's key modes
from cadenza.music.key_profiles import best_key, key_correlations, key_index


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


def estimate_key(profile: np.ndarray) -> KeyEstimate:
    """The most likely key of a pitch-class profile (any non-negative scale)."""
    correlations = key_correlations(profile)
    if not correlations.any():
        return KeyEstimate(tonic=0, mode="major", confidence=0.0)
    tonic, mode = best_key(correlations)
    confidence = float(np.clip(correlations[key_index(tonic, mode)], 0.0, 1.0))
    return KeyEstimate(tonic=tonic, mode=mode, confidence=confidence)
