"""The band around the melody: General MIDI programs per style, voiced chords, a bass line from
the chord roots, drums with fills, and dynamics per section (the chorus loudest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cadenza.composition.engine.form import Section, Style
from cadenza.composition.engine.melody import Note
from cadenza.composition.engine.theory import Chord, Key
from cadenza.composition.engine.units import BAR_UNITS, UNITS_PER_BEAT

ROLES = ("melody", "chords", "bass", "drums")
PART_NAMES = {"melody": "Melody", "chords": "Chords", "bass": "Bass", "drums": "Drums"}
# General MIDI programs (0-based) per style: melody, chords, bass.
PROGRAMS: dict[Style, dict[str, int]] = {
    "pop": {"melody": 80, "chords": 0, "bass": 33},  # square lead, grand piano, finger bass
    "rock": {"melody": 29, "chords": 30, "bass": 34},  # overdriven, distortion, pick bass
    "ballad": {"melody": 73, "chords": 89, "bass": 32},  # flute, warm pad, acoustic bass
    "folk": {"melody": 40, "chords": 25, "bass": 32},  # violin, steel guitar, acoustic bass
    "dance": {"melody": 81, "chords": 90, "bass": 38},  # saw lead, polysynth, synth bass
}
SECTION_LOUDNESS = {"intro": 0.72, "verse": 0.82, "chorus": 1.0, "bridge": 0.9, "outro": 0.75}
_BASE_VELOCITY = {"melody": 104, "chords": 78, "bass": 96, "drums": 100}

# When chords sound within a bar, in beats: (onset, length).
_COMPING: dict[Style, tuple[tuple[float, float], ...]] = {
    "pop": ((0, 1.5), (1.5, 1), (2.5, 1.5)),
    "rock": tuple((i / 2, 0.5) for i in range(8)),
    "ballad": ((0, 4),),
    "folk": ((0, 1), (1, 0.5), (1.5, 1), (2.5, 0.5), (3, 1)),
    "dance": ((0.5, 0.5), (1.5, 0.5), (2.5, 0.5), (3.5, 0.5)),
}
# Bass notes within a bar: (onset, length, which): root, fifth, octave, or approach (a step
# into the next bar's root).
_BASS: dict[Style, tuple[tuple[float, float, str], ...]] = {
    "pop": ((0, 1.5, "root"), (1.5, 0.5, "root"), (2, 1, "fifth"), (3, 1, "approach")),
    "rock": (*((i / 2, 0.5, "root") for i in range(7)), (3.5, 0.5, "approach")),
    "ballad": ((0, 2, "root"), (2, 2, "fifth")),
    "folk": ((0, 1, "root"), (2, 1, "fifth")),
    "dance": ((0, 0.5, "root"), *((i + 0.5, 0.5, "octave") for i in range(4))),
}
KICK, SNARE, SIDE_STICK, CLAP, CLOSED_HAT, OPEN_HAT, CRASH, TAMBOURINE = (
    36, 38, 37, 39, 42, 46, 49, 54
)  # fmt: skip
TOMS = (50, 48, 45, 43)
# Sixteenth-note steps per drum, per style.
_GROOVES: dict[Style, dict[int, tuple[int, ...]]] = {
    "pop": {KICK: (0, 8, 10), SNARE: (4, 12), CLOSED_HAT: tuple(range(0, 16, 2))},
    "rock": {KICK: (0, 6, 8, 10), SNARE: (4, 12), OPEN_HAT: tuple(range(0, 16, 2))},
    "ballad": {KICK: (0, 10), SIDE_STICK: (4, 12), CLOSED_HAT: tuple(range(0, 16, 4))},
    "folk": {KICK: (0, 8), SNARE: (4, 12), TAMBOURINE: tuple(range(0, 16, 2))},
    "dance": {KICK: (0, 4, 8, 12), CLAP: (4, 12), OPEN_HAT: (2, 6, 10, 14),
              CLOSED_HAT: tuple(range(1, 16, 2))},
}  # fmt: skip
_STEP = UNITS_PER_BEAT // 4  # a sixteenth
CHORD_RANGE = (52, 74)
BASS_LOW = 28  # E1: bass roots sit in E1..D#2


@dataclass(frozen=True)
class PartNote:
    start: int  # units
    duration: int
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Part:
    role: str
    name: str
    program: int
    is_drum: bool
    notes: tuple[PartNote, ...]


def arrange(
    style: Style,
    key: Key,
    chords: Sequence[Chord],
    sections: Sequence[Section],
    melody: Sequence[Note],
    rng: np.random.Generator,
) -> list[Part]:
    loudness = [1.0] * len(chords)
    for section in sections:
        for bar in range(section.start_bar, section.end_bar):
            loudness[bar] = SECTION_LOUDNESS[section.name]
    programs = PROGRAMS[style]
    melody_notes = tuple(
        PartNote(n.start, n.duration, n.pitch, _velocity("melody", loudness[n.start // BAR_UNITS]))
        for n in melody
    )
    return [
        Part("melody", PART_NAMES["melody"], programs["melody"], False, melody_notes),
        Part("chords", PART_NAMES["chords"], programs["chords"], False,
             _comp(style, key, chords, loudness)),
        Part("bass", PART_NAMES["bass"], programs["bass"], False,
             _bass(style, key, chords, loudness)),
        Part("drums", PART_NAMES["drums"], 0, True, _drums(style, sections, loudness, rng)),
    ]  # fmt: skip


def _velocity(role: str, loudness: float, accent: float = 1.0) -> int:
    return int(np.clip(round(_BASE_VELOCITY[role] * loudness * accent), 1, 127))


def _units(beats: float) -> int:
    return round(beats * UNITS_PER_BEAT)


def voice(pitch_classes: Sequence[int], previous: Sequence[int] | None) -> list[int]:
    """A close-position voicing inside CHORD_RANGE that moves least from `previous`."""
    low, high = CHORD_RANGE
    candidates = []
    for inversion in range(len(pitch_classes)):
        order = [*pitch_classes[inversion:], *pitch_classes[:inversion]]
        for base in range(low, low + 12):
            if base % 12 != order[0]:
                continue
            voicing = [base]
            for pc in order[1:]:
                voicing.append(voicing[-1] + (pc - voicing[-1]) % 12)
            if voicing[-1] <= high:
                candidates.append(voicing)
    target = sorted(previous) if previous else None

    def distance(v: list[int]) -> float:
        if target is None:
            return abs(float(np.mean(v)) - 62.0)
        if len(v) == len(target):
            return float(sum(abs(a - b) for a, b in zip(sorted(v), target, strict=True)))
        return abs(float(np.mean(v)) - float(np.mean(target))) * len(v)

    return min(candidates, key=distance)


def _comp(
    style: Style, key: Key, chords: Sequence[Chord], loudness: Sequence[float]
) -> tuple[PartNote, ...]:
    notes: list[PartNote] = []
    previous: list[int] | None = None
    last = len(chords) - 1
    for bar, chord in enumerate(chords):
        pcs = chord.pitch_classes(key)
        if style == "rock":  # power chords: root, fifth, octave
            root = 40 + (pcs[0] - 40) % 12
            pitches = [root, root + 7, root + 12]
        else:
            pitches = previous = voice(pcs, previous)
        hits = ((0.0, 4.0),) if bar == last else _COMPING[style]
        for onset, length in hits:
            accent = 1.0 if onset == int(onset) else 0.85
            velocity = _velocity("chords", loudness[bar], accent)
            start = bar * BAR_UNITS + _units(onset)
            notes += [PartNote(start, _units(length), p, velocity) for p in pitches]
    return tuple(notes)


def _bass(
    style: Style, key: Key, chords: Sequence[Chord], loudness: Sequence[float]
) -> tuple[PartNote, ...]:
    notes: list[PartNote] = []
    last = len(chords) - 1
    for bar, chord in enumerate(chords):
        pcs = chord.pitch_classes(key)
        root = BASS_LOW + (pcs[0] - BASS_LOW) % 12
        fifth = root + (pcs[2] - pcs[0]) % 12
        following = chords[bar + 1].pitch_classes(key)[0] if bar < last else pcs[0]
        target = BASS_LOW + (following - BASS_LOW) % 12
        # Into the next root by a semitone from below, or the fifth when the root stays.
        approach = target - 1 if target != root else fifth
        pitch_of = {"root": root, "fifth": fifth, "octave": root + 12, "approach": approach}
        pattern = ((0.0, 4.0, "root"),) if bar == last else _BASS[style]
        for onset, length, which in pattern:
            accent = 1.0 if onset in (0, 2) else 0.9
            velocity = _velocity("bass", loudness[bar], accent)
            start = bar * BAR_UNITS + _units(onset)
            notes.append(PartNote(start, _units(length), pitch_of[which], velocity))
    return tuple(notes)


def _drums(
    style: Style,
    sections: Sequence[Section],
    loudness: Sequence[float],
    rng: np.random.Generator,
) -> tuple[PartNote, ...]:
    bars = len(loudness)
    section_ends = {s.end_bar - 1 for s in sections}
    section_starts = {s.start_bar for s in sections}
    notes: list[PartNote] = []
    for bar in range(bars):
        start = bar * BAR_UNITS
        if bar == bars - 1:  # the last bar: one crash and kick, left to ring
            velocity = _velocity("drums", loudness[bar])
            notes += [PartNote(start, 2 * UNITS_PER_BEAT, d, velocity) for d in (CRASH, KICK)]
            continue
        hits: list[tuple[int, int, float]] = []  # (step, drum, accent)
        fill = bar in section_ends
        for drum, steps in _GROOVES[style].items():
            hits += [(s, drum, 1.0 if s % 4 == 0 else 0.8) for s in steps if not (fill and s >= 8)]
        if fill:
            hits += _fill(rng)
        if bar in section_starts and bar > 0:
            hits.append((0, CRASH, 1.0))
        for step, drum, accent in sorted(hits):
            jitter = 1.0 + float(rng.uniform(-0.06, 0.06))  # a drummer is never exact
            velocity = _velocity("drums", loudness[bar], accent * jitter)
            notes.append(PartNote(start + step * _STEP, _STEP, drum, velocity))
    return tuple(notes)


def _fill(rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """The second half of a section's last bar: snare then toms walking down, in sixteenths
    or eighths."""
    if rng.random() < 0.5:
        return [(8 + i, SNARE if i < 4 else TOMS[i - 4], 0.8 + 0.03 * i) for i in range(8)]
    return [(8, SNARE, 0.9), (10, SNARE, 0.9), (12, TOMS[0], 0.95), (14, TOMS[2], 1.0),
            (8, KICK, 0.9)]  # fmt: skip
