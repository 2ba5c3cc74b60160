"""From the model's voices to instruments: an ensemble per texture (or the one asked for),
and for a tune (one voice) an accompaniment in its own registers: a bass that plays chord
roots and fifths and moves to the nearest octave (never jumps one), and chords voiced below
the tune. Chords are chosen per half bar from the key's triads by how well they fit the
tune's notes there, strong beats counting more, with the cadences the form asks for. Where
the bass would move in parallel fifths or octaves with the tune, it takes another tone of
the chord (`voice_leading`), except on the cadences' final notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from cadenza.composition.learned.analysis import TRIADS
from cadenza.composition.learned.form import Plan
from cadenza.composition.learned.midi_out import Part
from cadenza.composition.learned.tokens import Note, Score, is_compound, metric_weight
from cadenza.composition.learned.voice_leading import mend_parallels

Ensemble = Literal["auto", "choir", "strings", "winds", "organ", "piano", "folk"]
ENSEMBLES: dict[str, tuple[tuple[str, int], ...]] = {
    "choir": (("Soprano", 52), ("Alto", 52), ("Tenor", 52), ("Bass", 52)),
    "strings": (("Violin I", 40), ("Violin II", 40), ("Viola", 41), ("Cello", 42)),
    "winds": (("Flute", 73), ("Oboe", 68), ("Clarinet", 71), ("Bassoon", 70)),
    "organ": (("Organ RH", 19), ("Organ RH 2", 19), ("Organ LH", 19), ("Pedal", 19)),
    "piano": (("Piano I", 0), ("Piano II", 0), ("Piano III", 0), ("Piano IV", 0)),
    "folk": (("Fiddle", 40), ("Flute", 73), ("Whistle", 78), ("Cello", 42)),
}
TUNE_ACCOMPANIMENT = (("Guitar", 24), ("Bass", 32))  # nylon guitar, acoustic bass
BASS_RANGE = (40, 55)  # E2..G3 in C; a transposition moves it at most half an octave
MAX_BASS_LEAP = 7  # to a root further than a fifth away the bass takes the chord's fifth or third
CHORD_RANGE = (48, 67)


def default_ensemble(texture: str) -> str:
    return {"chorale": "choir", "polyphony": "choir"}.get(texture, "folk")


def arrange(score: Score, plan: Plan, ensemble: str) -> list[Part]:
    chosen = default_ensemble(plan.texture) if ensemble == "auto" else ensemble
    names = ENSEMBLES[chosen]
    parts = [
        Part(
            names[v][0],
            names[v][1],
            f"voice {v + 1}",
            tuple(n for n in score.notes if n.voice == v),
        )
        for v in range(score.voices)
    ]
    if score.voices == 1:
        chords = harmonise(score, plan)
        chord_notes = _chord_part(score, chords)
        bass = _mended_bass(score, plan, chord_notes, _bass_part(score, chords))
        parts += [
            Part(*TUNE_ACCOMPANIMENT[0], "chords", tuple(chord_notes)),
            Part(*TUNE_ACCOMPANIMENT[1], "bass", tuple(bass)),
        ]
    return parts


def _mended_bass(score: Score, plan: Plan, chord_notes: list[Note], bass: list[Note]) -> list[Note]:
    """The bass with its parallels to the tune mended: the tune, the chords and the bass as
    three voices, only the bass free to move (and not on a cadence's final note)."""
    ends = plan.cadence_ends(score.bar_steps)
    tune = [replace(n, voice=0) for n in score.notes]
    chords = [replace(n, voice=1) for n in chord_notes]
    low = [replace(n, voice=2) for n in bass]
    fixed = frozenset(tune + chords + [n for n in low if n.end in ends])
    ranges = [(0, 127), CHORD_RANGE, BASS_RANGE]
    mended, _ = mend_parallels(tune + chords + low, 3, ranges, score.mode, fixed=fixed)
    return [replace(n, voice=3) for n in mended if n.voice == 2]


def slot_steps(score: Score) -> int:
    """The harmonic rhythm of an accompaniment: half a bar when the bar has an even number
    of beats, else the whole bar."""
    steps = score.bar_steps
    numerator = score.meter[0]
    beats = numerator // 3 if is_compound(score.meter) else numerator
    return steps // 2 if beats % 2 == 0 and beats > 1 else steps


def harmonise(score: Score, plan: Plan) -> list[tuple[int, int]]:
    """(slot start, triad index) for each harmonic slot of the piece."""
    triads = TRIADS[score.mode]
    slot = slot_steps(score)
    total = score.bars * score.bar_steps
    cadences = {
        (p.start_bar + p.bars) * score.bar_steps: p.cadence
        for s in plan.sections for p in s.phrases
    }  # fmt: skip
    chords: list[tuple[int, int]] = []
    previous = 0
    for start, sounding in zip(
        range(0, total, slot), _by_slot(score.notes, slot, total), strict=True
    ):
        weights = [0.0] * 12
        for n in sounding:
            overlap = min(n.end, start + slot) - max(n.start, start)
            if overlap > 0:
                strength = 1 + metric_weight(max(n.start, start) % score.bar_steps, score.meter)
                weights[n.pitch % 12] += overlap * strength
        end = start + slot
        fit = []
        for i, triad in enumerate(triads):
            inside = sum(weights[pc] for pc in triad)
            outside = sum(w for pc, w in enumerate(weights) if pc not in triad)
            bonus = 0.5 if i == previous else 0.0
            bonus += 1.0 if i == 0 else 0.0  # the tonic and dominant are the folk default
            bonus += 0.6 if i == 4 else 0.0
            fit.append(inside - 0.8 * outside + bonus)
        choice = max(range(len(triads)), key=lambda i: (fit[i], -i))
        if cadences.get(end) == "authentic":
            choice = 0
        elif cadences.get(end + slot) == "authentic" or cadences.get(end) == "half":
            choice = 4 if fit[4] > fit[choice] - 3 else choice
        chords.append((start, choice))
        previous = choice
    return chords


def _by_slot(notes: Sequence[Note], slot: int, total: int) -> list[list[Note]]:
    """The notes sounding in each slot of `slot` sixteenths, found in one pass."""
    slots: list[list[Note]] = [[] for _ in range(0, total, slot)]
    for n in notes:
        last = min((n.end - 1) // slot, len(slots) - 1)
        for index in range(max(n.start // slot, 0), last + 1):
            slots[index].append(n)
    return slots


def _nearest(pitch_class: int, previous: int, low: int, high: int) -> int:
    options = [p for p in range(low, high + 1) if p % 12 == pitch_class]
    return min(options, key=lambda p: (abs(p - previous), p))


def _bass_part(score: Score, chords: list[tuple[int, int]]) -> list[Note]:
    triads = TRIADS[score.mode]
    slot = slot_steps(score)
    notes = []
    previous = (BASS_RANGE[0] + BASS_RANGE[1]) // 2
    for start, chord in chords:
        root, third, fifth = triads[chord]
        pitch = _nearest(root, previous, *BASS_RANGE)
        if abs(pitch - previous) > MAX_BASS_LEAP:  # the root lies past the range's edge
            tones = [_nearest(pc, previous, *BASS_RANGE) for pc in (fifth, third)]
            pitch = min(tones, key=lambda p: abs(p - previous))
        if slot >= 8:
            half = slot // 2
            notes.append(Note(start, 3, pitch, half))
            other = _nearest(fifth, pitch, *BASS_RANGE)
            notes.append(Note(start + half, 3, other, half))
            previous = other
        else:
            notes.append(Note(start, 3, pitch, slot))
            previous = pitch
    return notes


def _chord_part(score: Score, chords: list[tuple[int, int]]) -> list[Note]:
    triads = TRIADS[score.mode]
    slot = slot_steps(score)
    by_slot = _by_slot(score.notes, slot, score.bars * score.bar_steps)
    notes: list[Note] = []
    previous: list[int] = [55, 60, 64]
    for (start, chord), sounding in zip(chords, by_slot, strict=True):
        above = [n.pitch for n in sounding]
        ceiling = min(min(above, default=CHORD_RANGE[1] + 3) - 3, CHORD_RANGE[1])
        voicing = []
        for pc, was in zip(triads[chord][:3], previous, strict=True):
            voicing.append(_nearest(pc, was, CHORD_RANGE[0], max(ceiling, CHORD_RANGE[0] + 11)))
        voicing.sort()
        previous = voicing
        notes += [Note(start, 2, p, slot) for p in voicing]
    return notes
