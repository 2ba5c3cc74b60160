"""Measures of a score that a musician would check by ear, used to rank drawn phrases and by
the quality benchmark: parallel fifths and octaves between the outer voices, notes in the
key, cadences, harmonic rhythm and leaps in the bass.

Scores here are in C (tokens' convention): the tonic is pitch class 0.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

import numpy as np

from cadenza.composition.learned.tokens import Note, Score

MAJOR_SCALE = frozenset({0, 2, 4, 5, 7, 9, 11})
MINOR_SCALE = frozenset({0, 2, 3, 5, 7, 8, 10, 11, 9})  # natural, harmonic and melodic
TRIADS = {  # (root, third, fifth) pitch classes of the diatonic triads, C major / C minor
    "major": [(0, 4, 7), (2, 5, 9), (4, 7, 11), (5, 9, 0), (7, 11, 2), (9, 0, 4)],
    "minor": [(0, 3, 7), (2, 5, 8), (3, 7, 10), (5, 8, 0), (7, 11, 2), (8, 0, 3), (10, 2, 5)],
}


def voice_lines(score: Score) -> list[list[Note]]:
    lines: list[list[Note]] = [[] for _ in range(score.voices)]
    for note in score.notes:
        if note.voice < score.voices:
            lines[note.voice].append(note)
    return [sorted(line) for line in lines]


class Sounding:
    """What a line (one note at a time, in order) sounds at any time, by bisection over its
    onsets: measuring a 512-bar piece stays linear-logarithmic."""

    def __init__(self, line: Sequence[Note]) -> None:
        self.line = list(line)
        self.starts = [n.start for n in self.line]

    def at(self, time: int) -> Note | None:
        i = bisect.bisect_right(self.starts, time) - 1
        if i < 0 or time >= self.line[i].end:
            return None
        return self.line[i]


def parallel_perfects(upper: Sequence[Note], lower: Sequence[Note]) -> int:
    """Parallel fifths and octaves (and unisons) between two lines: consecutive moments where
    both sound, both move in the same direction, and the interval is a perfect fifth or
    octave (compound or not) both times."""
    return len(parallel_moments(upper, lower))


def parallel_moments(
    upper: Sequence[Note], lower: Sequence[Note]
) -> list[tuple[Note, Note, Note, Note]]:
    """Each parallel of `parallel_perfects` as the notes sounding before and at it: (upper
    before, lower before, upper, lower)."""
    times = sorted({n.start for n in upper} | {n.start for n in lower})
    top, bottom = Sounding(upper), Sounding(lower)
    found: list[tuple[Note, Note, Note, Note]] = []
    previous: tuple[Note, Note] | None = None
    for t in times:
        a, b = top.at(t), bottom.at(t)
        if a is None or b is None:
            previous = None
            continue
        if previous is not None and (a, b) != previous:
            pa, pb = previous
            moved_a, moved_b = a.pitch - pa.pitch, b.pitch - pb.pitch
            before, after = (pa.pitch - pb.pitch) % 12, (a.pitch - b.pitch) % 12
            if (
                moved_a and moved_b and (moved_a > 0) == (moved_b > 0)
                and before == after and after in (0, 7)
            ):  # fmt: skip
                found.append((pa, pb, a, b))
        previous = (a, b)
    return found


def in_key_rate(score: Score) -> float:
    scale = MAJOR_SCALE if score.mode == "major" else MINOR_SCALE
    if not score.notes:
        return 1.0
    return sum(1 for n in score.notes if n.pitch % 12 in scale) / len(score.notes)


def chord_at(notes: Sequence[Note], mode: str) -> int | None:
    """The diatonic triad (index into TRIADS[mode]) that best fits the sounding pitch classes
    (weighted by how long they sound), or None when nothing sounds."""
    if not notes:
        return None
    weight = np.zeros(12)
    for n in notes:
        weight[n.pitch % 12] += 1.0
    best, best_score = 0, -1.0
    for i, triad in enumerate(TRIADS[mode]):
        score = float(sum(weight[pc] for pc in triad)) - 0.5 * float(
            sum(weight[pc] for pc in range(12) if pc not in triad)
        )
        if score > best_score:
            best, best_score = i, score
    return best


def chord_changes_per_bar(score: Score) -> float:
    """Harmonic rhythm: how often the best-fitting triad changes from beat to beat, per bar
    (only meaningful for textures of two voices or more)."""
    beat = 6 if score.meter[1] == 8 and score.meter[0] in (6, 9, 12) else 16 // score.meter[1]
    lines = [Sounding(line) for line in voice_lines(score)]
    bars = score.bars
    if bars == 0:
        return 0.0
    changes, last = 0, None
    for t in range(0, bars * score.bar_steps, beat):
        chord = chord_at([n for line in lines if (n := line.at(t))], score.mode)
        if chord is not None and last is not None and chord != last:
            changes += 1
        last = chord if chord is not None else last
    return changes / bars


def ends_on_tonic(score: Score, end_bar: int | None = None) -> bool:
    """Whether the top and bottom voices' last notes before the end of bar `end_bar` (the
    piece's last bar by default) are the tonic."""
    end = ((end_bar if end_bar is not None else score.bars - 1) + 1) * score.bar_steps
    lines = [line for line in voice_lines(score) if line]
    if not lines:
        return False
    finals = []
    for line in (lines[0], lines[-1]):
        before = [n for n in line if n.start < end]
        if not before:
            return False
        finals.append(before[-1].pitch % 12)
    return all(pc == 0 for pc in finals)


def bass_leaps(line: Sequence[Note], limit: int = 9) -> int:
    """Leaps larger than `limit` semitones between consecutive notes of a line (octave jumps
    in a bass)."""
    return sum(1 for a, b in itertools.pairwise(line) if abs(b.pitch - a.pitch) > limit)


def per_hundred_notes(count: int, score: Score) -> float:
    return 100.0 * count / max(len(score.notes), 1)
