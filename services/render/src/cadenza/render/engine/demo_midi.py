"""A deterministic General MIDI arrangement, for tests, benchmarks and smoke checks.

Pop-shaped: drums, bass, piano comping with the sustain pedal, a string pad with
expression swells, a lead with pitch bends, and (in the full arrangement) guitar
arpeggios, brass stabs and a choir pad. Same seed, same file, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi

# I–V–vi–IV in C, as (root, third, fifth) MIDI notes around middle C.
PROGRESSION = [(60, 64, 67), (55, 59, 62), (57, 60, 64), (53, 57, 60)]
SCALE = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76]
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49


def _note(inst: pretty_midi.Instrument, pitch: int, start: float, end: float, vel: int) -> None:
    inst.notes.append(pretty_midi.Note(velocity=vel, pitch=pitch, start=start, end=end))


def _cc(inst: pretty_midi.Instrument, number: int, value: int, time: float) -> None:
    inst.control_changes.append(pretty_midi.ControlChange(number, value, time))


def write_demo_midi(
    path: Path, seconds: float, *, tempo_bpm: float = 120.0, full: bool = True, seed: int = 0
) -> Path:
    """Write about `seconds` of music (whole bars) to `path`; `full=False` gives just
    piano, bass and drums. Returns `path`."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo_bpm
    bar = 4 * beat
    bars = max(1, round(seconds / bar))
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)

    piano = pretty_midi.Instrument(program=0, name="Piano")
    bass = pretty_midi.Instrument(program=33, name="Bass")
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="Drums")
    _cc(piano, 7, 100, 0.0)
    _cc(piano, 10, 50, 0.0)
    _cc(bass, 7, 110, 0.0)
    for b in range(bars):
        t0 = b * bar
        root, third, fifth = PROGRESSION[b % len(PROGRESSION)]
        # Piano: a chord on beats 1 and 3, pedal held through each half bar.
        for half in (0, 2):
            start = t0 + half * beat
            for pitch in (root, third, fifth, root + 12):
                _note(piano, pitch, start, start + 1.8 * beat, int(rng.integers(62, 84)))
            _cc(piano, 64, 127, start + 0.01)
            _cc(piano, 64, 0, start + 1.95 * beat)
        # Bass: eighth notes on the root, an octave jump on the last one.
        for i in range(8):
            pitch = root - 24 + (12 if i == 7 else 0)
            start = t0 + i * beat / 2
            _note(bass, pitch, start, start + 0.45 * beat, int(rng.integers(80, 104)))
        # Drums: kick on 1 and 3 (+ the "and" of 3), snare on 2 and 4, eighth hats.
        for i in range(8):
            start = t0 + i * beat / 2
            hat = OPEN_HAT if i == 7 else CLOSED_HAT
            _note(drums, hat, start, start + 0.1, int(rng.integers(60, 90)))
            if i in (0, 4, 5):
                _note(drums, KICK, start, start + 0.1, 110)
            if i in (2, 6):
                _note(drums, SNARE, start, start + 0.1, int(rng.integers(96, 120)))
        if b % 8 == 0:
            _note(drums, CRASH, t0, t0 + 0.5, 100)
    pm.instruments.extend([piano, bass, drums])

    if full:
        pm.instruments.extend(_full_band(rng, bars, beat))
    pm.write(str(path))
    return path


def _full_band(rng: np.random.Generator, bars: int, beat: float) -> list[pretty_midi.Instrument]:
    bar = 4 * beat
    strings = pretty_midi.Instrument(program=48, name="Strings")
    lead = pretty_midi.Instrument(program=73, name="Flute Lead")
    guitar = pretty_midi.Instrument(program=25, name="Guitar")
    brass = pretty_midi.Instrument(program=61, name="Brass")
    choir = pretty_midi.Instrument(program=52, name="Choir")
    _cc(strings, 10, 30, 0.0)
    _cc(guitar, 10, 90, 0.0)
    _cc(lead, 91, 70, 0.0)
    for b in range(bars):
        t0 = b * bar
        root, third, fifth = PROGRESSION[b % len(PROGRESSION)]
        # Strings: the whole bar, with an expression swell.
        for pitch in (root - 12, third, fifth):
            _note(strings, pitch, t0, t0 + bar, 70)
        for step in range(8):
            _cc(strings, 11, 70 + step * 7, t0 + step * bar / 8)
        # Lead: a random walk on the scale in eighths and quarters, bends on long notes.
        t = t0
        degree = int(rng.integers(2, 7))
        while t < t0 + bar - 1e-6:
            length = beat / 2 if rng.random() < 0.6 else beat
            degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(SCALE) - 1))
            _note(lead, SCALE[degree] + 12, t, t + 0.9 * length, int(rng.integers(70, 100)))
            if length == beat:
                lead.pitch_bends.append(pretty_midi.PitchBend(1200, t + 0.5 * length))
                lead.pitch_bends.append(pretty_midi.PitchBend(0, t + 0.9 * length))
            t += length
        # Guitar: sixteenth-note arpeggios.
        for i in range(16):
            pitch = (root, third, fifth, root + 12)[i % 4] - 12
            start = t0 + i * beat / 4
            _note(guitar, pitch, start, start + beat / 4, int(rng.integers(55, 80)))
        # Brass: stabs on the off-beats of every other bar.
        if b % 2 == 1:
            for off in (1.5, 3.5):
                for pitch in (root, third, fifth):
                    _note(brass, pitch, t0 + off * beat, t0 + (off + 0.4) * beat, 90)
        # Choir: the chord's root and fifth, two bars long, every other bar.
        if b % 2 == 0:
            for pitch in (root, fifth):
                _note(choir, pitch + 12, t0, t0 + 2 * bar, 60)
    return [strings, lead, guitar, brass, choir]
