"""Chord qualities and roots from windows of chroma (one window per beat), shared by the MIDI
and the audio analysis.

Each window's chroma is matched against binary templates of six chord qualities on all twelve
roots (cosine similarity); the best match counts once if it is at least MIN_MATCH, which a lone
note (0.58 against a triad) is not and two notes of a triad (0.82) are. Windows are rotated so
the song's tonic is index 0 *before* matching: roots come out relative to the tonic, and
symmetric chords (augmented, the diminished seventh) break their root ties the same way in
every transposition, so both histograms are transposition-invariant.
"""

from __future__ import annotations

import numpy as np

QUALITIES: tuple[str, ...] = ("major", "minor", "diminished", "augmented", "sus4", "dominant7")
_INTERVALS: tuple[tuple[int, ...], ...] = (
    (0, 4, 7),
    (0, 3, 7),
    (0, 3, 6),
    (0, 4, 8),
    (0, 5, 7),
    (0, 4, 7, 10),
)
MIN_MATCH = 0.6


def _templates() -> np.ndarray:
    """(6 * 12, 12) unit templates: row q * 12 + r is quality q on root r."""
    rows = []
    for intervals in _INTERVALS:
        for root in range(12):
            row = np.zeros(12)
            row[[(root + i) % 12 for i in intervals]] = 1.0
            rows.append(row / np.linalg.norm(row))
    return np.array(rows)


_TEMPLATES = _templates()


def chord_histograms(chroma: np.ndarray, tonic: int) -> tuple[np.ndarray, np.ndarray]:
    """(quality histogram in QUALITIES order, root histogram relative to the tonic) of the
    chords in `chroma`, shaped (windows, 12) with absolute pitch classes; each sums to 1, or
    is all zeros when no window holds a chord."""
    windows = np.roll(np.asarray(chroma, dtype=np.float64).reshape(-1, 12), -tonic, axis=1)
    norms = np.linalg.norm(windows, axis=1)
    windows = windows[norms > 0] / norms[norms > 0, None]
    qualities = np.zeros(len(QUALITIES))
    roots = np.zeros(12)
    if len(windows):
        scores = np.round(windows @ _TEMPLATES.T, 9)  # equal scores tie the same way everywhere
        best = np.argmax(scores, axis=1)
        chords = best[scores[np.arange(len(best)), best] >= MIN_MATCH]
        qualities = np.bincount(chords // 12, minlength=len(QUALITIES)).astype(np.float64)
        roots = np.bincount(chords % 12, minlength=12).astype(np.float64)
    if qualities.sum() > 0:
        qualities /= qualities.sum()
        roots /= roots.sum()
    return qualities, roots
