"""What the engine learns from a source song: its key, tempo, chords and its top voice.

cadenza.music.midi_file parses the bytes with mido (so damaged files become readable errors
before anything large is built), gathers tempo, meter and key events into the first track (the
only one pretty_midi reads them from, and where moving them keeps pretty_midi from warning),
and has pretty_midi pair the notes. Everything after that works in quarter-note beats, so
sources at different tempi are comparable.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pretty_midi

from cadenza.composition.engine.errors import BlendError
from cadenza.composition.engine.theory import (
    QUALITIES,
    QUALITY_INTERVALS,
    Chord,
    Key,
    Mode,
    estimate_key,
    hinted_key,
    map_chord,
    map_pitch_class,
)
from cadenza.composition.engine.units import UNITS_PER_BEAT, quantize_duration
from cadenza.music.midi_file import (
    MidiFileError,
    MidiProblem,
    load_pretty_midi,
    parse_midi,
    states_tempo,
)
from cadenza.music.timing import quarter_clock

MAX_NOTES = 200_000
ONSET_TOLERANCE_BEATS = 0.05  # notes this close start together (a chord played by hand)
MAX_CHORD_NOTE_BEATS = 16.0  # longer notes count towards chords for this long

MelodyLine = tuple[tuple[int, int], ...]  # (MIDI pitch, duration in units) per note


@dataclass(frozen=True)
class SourceMaterial:
    """One source as the engine reads it, in its own key."""

    title: str
    key: Key
    key_from: str  # "hint" or "estimated"
    tempo_bpm: float
    tempo_from: str  # "hint", "midi" or "default"
    beats_per_bar: float
    chords: tuple[Chord, ...]  # one per (half) bar, repeats merged, roots relative to key.tonic
    melody: MelodyLine  # the top voice over all parts (the skyline)
    part_lines: tuple[MelodyLine, ...]  # each part's own top voice, for the originality check


def read_source(
    index: int,
    title: str,
    data: bytes,
    key_hint: str | None,
    mode_hint: Mode | None,
    tempo_hint: float | None,
) -> SourceMaterial:
    """Parse a source; BlendError names it (1-based `index` and title) and says what is wrong."""
    name = f'source {index} ("{title}")'
    pm, tempo_stated = _load(name, data)
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    if not notes:
        raise BlendError(f"{name} has no pitched notes to learn from (only drums or nothing)")
    clock = quarter_clock(*pm.get_tempo_changes())
    start, end, pitch = _beats(notes, clock)
    profile = np.bincount(pitch % 12, weights=np.maximum(end - start, 1e-3), minlength=12)

    hint = hinted_key(name, key_hint, mode_hint)
    if hint is not None:
        tonic, mode = hint
        key = Key(tonic, mode) if mode else estimate_key(profile, tonic=tonic)
        key_from = "hint"
    else:
        estimated = estimate_key(profile)
        key = Key(estimated.tonic, mode_hint) if mode_hint else estimated
        key_from = "estimated"

    if tempo_hint is not None:
        tempo, tempo_from = float(tempo_hint), "hint"
    elif tempo_stated:
        tempo, tempo_from = _longest_tempo(pm), "midi"
    else:
        tempo, tempo_from = 120.0, "default"

    signatures = pm.time_signature_changes
    beats_per_bar = 4.0
    if signatures and 0.5 <= signatures[0].numerator * 4.0 / signatures[0].denominator <= 16:
        beats_per_bar = signatures[0].numerator * 4.0 / signatures[0].denominator

    parts = []
    for inst in pm.instruments:
        if inst.is_drum or len(inst.notes) < 2:
            continue
        parts.append(_skyline(*_beats(inst.notes, clock)))
    return SourceMaterial(
        title=title,
        key=key,
        key_from=key_from,
        tempo_bpm=round(tempo, 3),
        tempo_from=tempo_from,
        beats_per_bar=beats_per_bar,
        chords=_chords(start, end, pitch, beats_per_bar, key.tonic),
        melody=_skyline(start, end, pitch),
        part_lines=tuple(parts),
    )


def chords_in(material: SourceMaterial, target: Key) -> list[Chord]:
    """The source's chord sequence on the target key's degrees."""
    return [map_chord(c, material.key.mode, target.mode) for c in material.chords]


def melody_in(line: MelodyLine, source: Key, target: Key, *, map_mode: bool = True) -> MelodyLine:
    """A line transposed into the target key (to the nearest octave), with the scale degrees
    that differ between major and minor moved when `map_mode` (a major third becomes minor)."""
    shift = (target.tonic - source.tonic) % 12
    shift = shift - 12 if shift > 6 else shift
    moved = []
    for pitch, duration in line:
        relative = (pitch - source.tonic) % 12
        mapped = map_pitch_class(relative, source.mode, target.mode) if map_mode else relative
        moved.append((pitch + (mapped - relative) + shift, duration))
    return tuple(moved)


# What is wrong with a source, in a sentence that names it ({name}); see MidiFileError.
_PROBLEMS = {
    MidiProblem.EMPTY: "{name} is empty",
    MidiProblem.NOT_SMF: "{name} is not a Standard MIDI File (it does not start with MThd)",
    MidiProblem.NO_RIFF_DATA: "{name} is a RIFF MIDI file that holds no MIDI data",
    MidiProblem.DAMAGED: "{name} is a damaged MIDI file: {reason}",
    MidiProblem.SMPTE_TIME: "{name} counts time in SMPTE frames; only beat-based MIDI is read",
    MidiProblem.TOO_LONG: "{name} is damaged or far too long: its last event is beyond the limit",
    MidiProblem.NO_NOTES: "{name} has no notes",
    MidiProblem.TOO_MANY_NOTES: "{name} has {notes:,} notes; the limit is {limit:,}",
    MidiProblem.UNREADABLE: "{name} could not be read as MIDI: {reason}",
}


def _load(name: str, data: bytes) -> tuple[pretty_midi.PrettyMIDI, bool]:
    try:
        midi = parse_midi(data, max_notes=MAX_NOTES)
        tempo_stated = states_tempo(midi)
        return load_pretty_midi(midi), tempo_stated
    except MidiFileError as e:
        sentence = _PROBLEMS[e.problem].format(
            name=name, reason=e.reason, notes=e.notes, limit=e.limit
        )
        raise BlendError(sentence) from e


def _longest_tempo(pm: pretty_midi.PrettyMIDI) -> float:
    """The tempo that holds longest (MIDI stores whole microseconds: 132 reads 132.000132)."""
    times, tempi = pm.get_tempo_changes()
    bounds = [*times[1:], max(pm.get_end_time(), times[-1])]
    held: dict[float, float] = {}
    for tempo, t0, t1 in zip(tempi, times, bounds, strict=True):
        held[round(float(tempo), 3)] = held.get(round(float(tempo), 3), 0.0) + max(0.0, t1 - t0)
    return max(held, key=lambda k: held[k])  # first of equals: dicts keep insertion order


def _beats(
    notes: Sequence[pretty_midi.Note], clock: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = clock(np.array([n.start for n in notes], dtype=np.float64))
    end = np.maximum(clock(np.array([n.end for n in notes], dtype=np.float64)), start)
    pitch = np.array([n.pitch for n in notes], dtype=np.int64)
    return start, end, pitch


def _skyline(start: np.ndarray, end: np.ndarray, pitch: np.ndarray) -> MelodyLine:
    """The top voice: at each onset the highest note starting there, unless a higher note
    that began earlier still sounds. Durations are inter-onset intervals, quantised."""
    order = np.lexsort((-pitch, start))
    onsets: list[tuple[float, int, float]] = []
    sounding: list[tuple[float, int]] = []  # (end, pitch) of notes started earlier
    i = 0
    while i < len(order):
        t = float(start[order[i]])
        j = i
        while j < len(order) and start[order[j]] - t <= ONSET_TOLERANCE_BEATS:
            j += 1
        group = order[i:j]
        top = int(group[0])  # lexsort put the highest pitch first
        sounding = [(e, p) for e, p in sounding if e > t + ONSET_TOLERANCE_BEATS]
        if not sounding or pitch[top] >= max(p for _, p in sounding):
            onsets.append((t, int(pitch[top]), float(end[top])))
        sounding += [(float(end[k]), int(pitch[k])) for k in group]
        i = j
    line = []
    for (t, p, e), following in itertools.zip_longest(onsets, onsets[1:]):
        span = (following[0] if following else e) - t
        line.append((p, quantize_duration(span * UNITS_PER_BEAT)))
    return tuple(line)


def _chord_templates() -> tuple[list[tuple[int, str]], np.ndarray]:
    labels, rows = [], []
    for quality in QUALITIES:
        for root in range(12):
            row = np.zeros(12)
            row[[(root + i) % 12 for i in QUALITY_INTERVALS[quality]]] = 1.0
            labels.append((root, quality))
            rows.append(row)
    return labels, np.array(rows)


_CHORD_LABELS, _CHORD_TEMPLATES = _chord_templates()
# A seventh chord must earn its fourth note: its score pays this share of the window's
# weight, so the seventh has to sound for about a sixth of the window to beat the triad.
_SEVENTH_COST = 0.25
_OUTSIDE_COST = 0.6  # weight of notes outside the chord counts against it at this rate
_BASS_BONUS = 0.5  # the lowest note weighs this much more (the bass names the root)


def _chords(
    start: np.ndarray, end: np.ndarray, pitch: np.ndarray, beats_per_bar: float, tonic: int
) -> tuple[Chord, ...]:
    """The best-matching triad or seventh chord per half bar in duple meters (hymns and
    chorales change harmony every beat or two), per bar otherwise; pitch classes weighted by
    how long they sound in the window, roots relative to the tonic, repeats merged."""
    halves = beats_per_bar >= 4 and beats_per_bar % 2 == 0
    window = beats_per_bar / 2 if halves else beats_per_bar
    phase = _bar_phase(start, end, beats_per_bar)
    first = phase - window * np.ceil(phase / window)
    # A drone counts for its first few bars only: that bounds how far back a window looks.
    end = np.minimum(end, start + MAX_CHORD_NOTE_BEATS)
    order = np.argsort(start, kind="stable")
    start, end, pitch = start[order], end[order], pitch[order]
    count = int(np.ceil((float(end.max()) - first) / window))
    sevenths = np.array([len(QUALITY_INTERVALS[q]) == 4 for _, q in _CHORD_LABELS])
    chords: list[Chord] = []
    for w in range(count):
        lo = first + w * window
        hi = lo + window
        a, b = np.searchsorted(start, [lo - MAX_CHORD_NOTE_BEATS, hi])
        overlap = np.minimum(end[a:b], hi) - np.maximum(start[a:b], lo)
        inside = overlap > 1e-6
        if not inside.any():
            continue
        here = pitch[a:b][inside]
        weights = np.bincount(here % 12, weights=overlap[inside], minlength=12)
        lowest = int(np.argmin(here))
        weights[here[lowest] % 12] += _BASS_BONUS * overlap[inside][lowest]
        total = float(weights.sum())
        inner = _CHORD_TEMPLATES @ weights
        scores = inner - _OUTSIDE_COST * (total - inner) - _SEVENTH_COST * total * sevenths
        best = int(np.argmax(np.round(scores, 9)))
        root, quality = _CHORD_LABELS[best]
        chord = Chord((root - tonic) % 12, quality)
        if not chords or chords[-1] != chord:
            chords.append(chord)
    return tuple(chords)


def _bar_phase(start: np.ndarray, end: np.ndarray, beats_per_bar: float) -> float:
    """Where bar lines fall, in whole beats after the start: a pickup shifts them. The phase
    whose bar lines see the most (and longest) note onsets wins; ties go to 0."""
    best, best_score = 0.0, -1.0
    for phase in np.arange(0.0, beats_per_bar, 1.0):
        position = np.mod(start - phase, beats_per_bar)
        on_line = (position < ONSET_TOLERANCE_BEATS) | (
            beats_per_bar - position < ONSET_TOLERANCE_BEATS
        )
        score = float(np.sum((end - start)[on_line]))
        if score > best_score + 1e-9:
            best, best_score = float(phase), score
    return best
