"""Parallel fifths and octaves between the outer voices, mended after the piece is drawn.

A phrase with parallels is drawn again while its budget lasts; what the kept draws still
have, and what later changes made (a quote broken by moving a note, a repeated strain
joined to what follows it, a cadence's final notes set), is mended here as a musician
would: one of the four notes of the parallel moves to another tone of the chord that
sounds there (the bass to the chord's third or fifth, an inversion; the soprano to
another chord tone), within a small reach, keeping above (soprano) or below (bass)
every other voice, in its range and without a leap over a sixth. The move kept is the
one that leaves the fewest parallels near it, then the smallest; a cadence's held final
notes never move. Written here rather than taken from a library: music21's
voice-leading checks find parallels but do not propose a mend.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import replace

from cadenza.composition.learned.analysis import (
    TRIADS,
    Sounding,
    chord_at,
    parallel_moments,
    parallel_perfects,
)
from cadenza.composition.learned.tokens import Note

MAX_LEAP = 9  # semitones to a neighbouring note, after the move (no leap over a sixth)
REACH = {"top": 5, "bottom": 9}  # how far a note may move to a chord tone
WINDOW = 48  # steps each side of a parallel that its mend is judged on (3 bars of 4/4)


def mend_parallels(
    notes: list[Note],
    voices: int,
    ranges: Sequence[tuple[int, int]],
    mode: str,
    *,
    fixed: frozenset[Note] = frozenset(),
    acceptable: Callable[[int, list[Note]], bool] | None = None,
) -> tuple[list[Note], int]:
    """`notes` with parallels between voice 0 and voice `voices - 1` mended where a chord
    tone allows, and how many notes moved. `acceptable(voice, line)` may refuse a moved
    line (e.g. one that now copies a run); `fixed` notes are never moved."""
    if voices < 2:
        return notes, 0
    lines: list[list[Note]] = [[] for _ in range(voices)]
    for n in sorted(notes):
        lines[n.voice].append(n)
    outer = (0, voices - 1)
    moved = 0
    tried: set[tuple[Note, Note, Note, Note]] = set()
    for _ in range(2 * len(lines[0]) + 2):
        pending = [m for m in parallel_moments(lines[0], lines[-1]) if m not in tried]
        if not pending:
            break
        moment = pending[0]
        tried.add(moment)
        pa, pb, a, b = moment
        low, high = min(pa.start, pb.start) - WINDOW, max(a.end, b.end) + WINDOW
        before = _local(lines[0], lines[-1], low, high)
        sounding = [Sounding(line) for line in lines]
        options: list[tuple[int, int, int, Note, Note]] = []
        for note, voice in ((b, outer[1]), (a, outer[0]), (pb, outer[1]), (pa, outer[0])):
            if note in fixed:
                continue
            for pitch in _chord_tones(note, voice, sounding, ranges, mode):
                line = lines[voice]
                trial = _replaced(line, note, replace(note, pitch=pitch))
                if _leaps(trial, sounding[voice].starts, note.start) > MAX_LEAP:
                    continue
                top, bottom = (trial, lines[-1]) if voice == 0 else (lines[0], trial)
                after = _local(top, bottom, low, high)
                if after < before:
                    options.append(
                        (after, abs(pitch - note.pitch), voice, note, replace(note, pitch=pitch))
                    )
        for _, _, voice, old, new in sorted(options, key=lambda o: o[:3]):
            trial = _replaced(lines[voice], old, new)
            if acceptable is None or acceptable(voice, trial):
                lines[voice] = trial
                moved += 1
                break
    return sorted(n for line in lines for n in line), moved


def _local(top: list[Note], bottom: list[Note], low: int, high: int) -> int:
    def near(line: list[Note]) -> list[Note]:
        return [n for n in line if n.end > low and n.start < high]

    return parallel_perfects(near(top), near(bottom))


def _chord_tones(
    note: Note,
    voice: int,
    sounding: list[Sounding],
    ranges: Sequence[tuple[int, int]],
    mode: str,
) -> list[int]:
    """Pitches the note could take: a tone of the chord sounding at its onset (what the
    other voices sound, completed to the diatonic triad that fits them best), within
    reach, in the voice's range, and not crossing the voices between."""
    heard = [
        found
        for v, line in enumerate(sounding)
        if v != voice and (found := line.at(note.start)) is not None
    ]
    if not heard:
        return []
    others = [n.pitch for n in heard]
    triad = chord_at([*heard, note], mode)
    classes = {p % 12 for p in others} | set(TRIADS[mode][triad] if triad is not None else ())
    lowest, highest = ranges[min(voice, len(ranges) - 1)]
    reach = REACH["top" if voice == 0 else "bottom"]
    return [
        p
        for p in range(note.pitch - reach, note.pitch + reach + 1)
        if p != note.pitch
        and p % 12 in classes
        and lowest <= p <= highest
        and (p > max(others) if voice == 0 else p < min(others))
    ]


def _replaced(line: list[Note], old: Note, new: Note) -> list[Note]:
    return [new if n == old else n for n in line]


def _leaps(line: list[Note], starts: list[int], start: int) -> int:
    """The larger leap into and out of the note starting at `start` (`starts`: the line's
    onsets, which a move of pitch leaves as they were)."""
    index = bisect.bisect_left(starts, start)
    pitch = line[index].pitch
    around = [line[i].pitch for i in (index - 1, index + 1) if 0 <= i < len(line)]
    return max((abs(pitch - p) for p in around), default=0)
