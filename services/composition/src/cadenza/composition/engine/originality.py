"""The originality guard: a blend must not copy more than LIMIT consecutive melody notes from
any source.

Two notes runs are "the same" when their durations are equal and so are the intervals between
consecutive notes (transposition-invariant: a copy moved to another key or octave is still a
copy; identical MIDI pitches are the special case of a zero shift). A run of k notes is then
k - 1 equal tokens (interval, previous duration, duration), so the longest shared run is one
more than the longest common substring of the two token sequences.

A re-rhythmed quote is caught too: the same runs compared on their intervals alone
(`longest_pitch_run`), so a source's phrase with its rhythm changed is still a copy.

While composing, every 9-note window of every source line sits in two hash sets (with
rhythm, and intervals alone), and a new phrase (with the 8 notes before it) is checked window
by window; `longest_shared_run` and `longest_pitch_run` measure the finished melody exactly
(longest common substring by rolling hashes with every match verified, so long sources stay
fast).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from cadenza.composition.engine.melody import Note
from cadenza.composition.engine.units import UNITS_PER_BEAT

LIMIT = 8  # the most consecutive notes a blend may share with a source
WINDOW = LIMIT + 1

Line = Sequence[tuple[int, int]]  # (MIDI pitch, duration in units)


def longest_shared_run(
    melody: Sequence[tuple[int, float]], sources: Sequence[Sequence[tuple[int, float]]]
) -> int:
    """The longest run of consecutive notes of `melody` whose durations and successive
    intervals equal a run of some source's (pitch, duration-in-beats) notes, in notes."""
    mine = _in_units(melody)
    return max((_shared_run(mine, _in_units(s)) for s in sources), default=0)


def longest_exact_run(
    melody: Sequence[tuple[int, float]], sources: Sequence[Sequence[tuple[int, float]]]
) -> int:
    """Like `longest_shared_run`, but pitches must be the same MIDI notes (no transposition)."""
    mine = _pair_codes(_in_units(melody))
    return max((_common(mine, _pair_codes(_in_units(s))) for s in sources), default=0)


def pitch_run_in_units(melody: Line, sources: Sequence[Line]) -> int:
    """The longest run of notes whose successive intervals equal a source's, whatever their
    durations (a re-rhythmed quote), in notes."""
    mine = _interval_codes(melody)
    found = max((_common(mine, _interval_codes(s)) for s in sources), default=0)
    return found + 1 if found else min(len(melody), 1)


def shared_run_in_units(melody: Line, sources: Sequence[Line]) -> int:
    """`longest_shared_run` for lines already in units."""
    return max((_shared_run(melody, s) for s in sources), default=0)


def exact_run_in_units(melody: Line, sources: Sequence[Line]) -> int:
    """`longest_exact_run` for lines already in units."""
    mine = _pair_codes(melody)
    return max((_common(mine, _pair_codes(s)) for s in sources), default=0)


class OriginalityGuard:
    """Every 9-note window of the source lines, as sorted rolling hashes (8 bytes a window,
    however long the sources). A hash collision could only make the guard redraw a phrase
    it need not have; the reported figure is measured exactly."""

    def __init__(self, lines: Sequence[Line]) -> None:
        self.lines = [list(line) for line in lines]
        self._windows = [
            _window_set([code(line) for line in self.lines])
            for code in (_token_codes, _interval_codes)
        ]

    def copied_windows(self, notes: Sequence[Note], first: int = 0) -> list[int]:
        """Start indices of 9-note windows of `notes` found in a source (with their rhythm or
        in their intervals alone), among the windows that include a note at index >= `first`."""
        line = [(n.pitch, n.duration) for n in notes]
        found: set[int] = set()
        for code, windows in zip((_token_codes, _interval_codes), self._windows, strict=True):
            codes = code(line)
            if codes.size < WINDOW - 1 or not windows.size:
                continue
            # Window i covers notes i..i+8, that is codes i..i+7 (code j joins notes j, j+1).
            hashes = _RollingHash(codes).windows(WINDOW - 1)
            places = np.minimum(np.searchsorted(windows, hashes), windows.size - 1)
            found.update(int(i) for i in np.flatnonzero(windows[places] == hashes))
        return sorted(i for i in found if i >= first - WINDOW + 1)

    def repair(
        self,
        notes: list[Note],
        first: int,
        alternatives: Callable[[Note], list[int]],
    ) -> int:
        """Change pitches (never durations) of notes[first:] until no window is copied; returns
        how many notes were changed (a bound on it if the search gives up)."""
        for changed in range(4 * len(notes) + 8):
            copied = self.copied_windows(notes, first)
            if not copied:
                return changed
            window = copied[0]
            centre = window + WINDOW // 2
            # A phrase's last note (its cadence) changes only when nothing else can.
            indices = sorted(
                range(max(window, first), window + WINDOW),
                key=lambda i: (notes[i].cadence, abs(i - centre), i),
            )
            best: tuple[int, int, int] | None = None  # (copies left, index, pitch)
            for index in indices:
                for pitch in alternatives(notes[index])[:6]:
                    trial = notes.copy()
                    trial[index] = replace(notes[index], pitch=pitch)
                    left = len(self.copied_windows(trial, first))
                    if best is None or left < best[0]:
                        best = (left, index, pitch)
                if best is not None and best[0] < len(copied):
                    break
            if best is None:
                break
            notes[best[1]] = replace(notes[best[1]], pitch=best[2])
        # Not reached with real melodies (a note has a dozen alternatives); if it were, the
        # summary's measured run would say so and `passed` would be false.
        return len(notes)


def _in_units(line: Sequence[tuple[int, float]]) -> list[tuple[int, int]]:
    return [(int(p), round(float(d) * UNITS_PER_BEAT)) for p, d in line]


def _token_codes(line: Line) -> np.ndarray:
    """One int per pair of consecutive notes: (interval, first duration, second duration)."""
    if len(line) < 2:
        return np.zeros(0, dtype=np.int64)
    pitch = np.array([p for p, _ in line], dtype=np.int64)
    duration = np.array([d for _, d in line], dtype=np.int64)
    interval = np.diff(pitch) + 256
    return np.asarray((interval << 32) | (duration[:-1] << 16) | duration[1:])


def _interval_codes(line: Line) -> np.ndarray:
    """One int per pair of consecutive notes: the interval alone."""
    return (
        np.diff(np.array([p for p, _ in line], dtype=np.int64)) + 256
        if len(line) > 1
        else (np.zeros(0, dtype=np.int64))
    )


def _window_set(per_line: Sequence[np.ndarray]) -> np.ndarray:
    hashes = [_RollingHash(c).windows(WINDOW - 1) for c in per_line if c.size >= WINDOW - 1]
    return np.unique(np.concatenate(hashes)) if hashes else np.zeros(0, np.uint64)


def _pair_codes(line: Line) -> np.ndarray:
    return np.array([(p << 16) | d for p, d in line], dtype=np.int64)


def _shared_run(a: Line, b: Line) -> int:
    if not a or not b:
        return 0
    tokens = _common(_token_codes(a), _token_codes(b))
    if tokens:
        return tokens + 1
    return 1 if {d for _, d in a} & {d for _, d in b} else 0


def _common(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common substring of two int sequences: a binary search on the
    length, each step comparing rolling hashes of all windows of that length (then the
    windows themselves, so a hash collision cannot count), O((n + m) log n)."""
    low, high = 0, min(a.size, b.size)
    hashes_a, hashes_b = _RollingHash(a), _RollingHash(b)
    while low < high:
        length = (low + high + 1) // 2
        if _share_window(a, b, hashes_a.windows(length), hashes_b.windows(length), length):
            low = length
        else:
            high = length - 1
    return low


_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so it has an inverse modulo 2**64
_BASE_INVERSE = np.uint64(pow(int(_BASE), -1, 2**64))
_SPREAD = np.uint64(0x2545F4914F6CDD1D)  # scatters small codes over 64 bits


class _RollingHash:
    """Hashes of every window of a sequence: sum of codes[i + t] * BASE**-t mod 2**64 (uint64
    arithmetic wraps), from prefix sums of codes[j] * BASE**-j rescaled by BASE**i."""

    def __init__(self, codes: np.ndarray) -> None:
        n = codes.size
        inverse_powers = np.cumprod(np.full(n, _BASE_INVERSE, dtype=np.uint64)) * _BASE
        weighted = codes.astype(np.uint64) * _SPREAD * inverse_powers
        self.prefix = np.concatenate([[np.uint64(0)], np.cumsum(weighted, dtype=np.uint64)])
        self.powers = np.cumprod(np.full(n, _BASE, dtype=np.uint64)) * _BASE_INVERSE

    def windows(self, length: int) -> np.ndarray:
        count = self.prefix.size - length
        hashes: np.ndarray = (self.prefix[length:] - self.prefix[:count]) * self.powers[:count]
        return hashes


def _share_window(
    a: np.ndarray, b: np.ndarray, hashes_a: np.ndarray, hashes_b: np.ndarray, length: int
) -> bool:
    for h in np.intersect1d(hashes_a, hashes_b):
        starts_b = np.flatnonzero(hashes_b == h)
        for i in np.flatnonzero(hashes_a == h):
            window = a[i : i + length]
            if any(np.array_equal(window, b[j : j + length]) for j in starts_b):
                return True
    return False
