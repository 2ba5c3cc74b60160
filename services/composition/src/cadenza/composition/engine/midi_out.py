"""The piece as a type-1 Standard MIDI File, written by pretty_midi."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pretty_midi

from cadenza.composition.engine.arrangement import Part
from cadenza.composition.engine.theory import Key
from cadenza.composition.engine.units import UNITS_PER_BEAT

RESOLUTION = 480  # ticks per quarter note


def write_midi(
    parts: Sequence[Part],
    *,
    tempo_bpm: float,
    key: Key,
    lyrics: Sequence[tuple[int, str]] = (),
) -> bytes:
    """One named track per part (drums on channel 10), 4/4, the key signature, and lyric
    events (onset in units, text) at their notes' onsets."""
    seconds_per_unit = 60.0 / tempo_bpm / UNITS_PER_BEAT
    pm = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=tempo_bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    pm.key_signature_changes.append(pretty_midi.KeySignature(key.midi_key_number, 0.0))
    for part in parts:
        instrument = pretty_midi.Instrument(
            program=part.program, is_drum=part.is_drum, name=part.name
        )
        instrument.notes = [
            pretty_midi.Note(
                velocity=n.velocity,
                pitch=n.pitch,
                start=n.start * seconds_per_unit,
                end=(n.start + n.duration) * seconds_per_unit,
            )
            for n in part.notes
        ]
        pm.instruments.append(instrument)
    # MIDI text is Latin-1 (mido refuses anything else): other letters become "?".
    pm.lyrics = [
        pretty_midi.Lyric(_latin1(text), onset * seconds_per_unit) for onset, text in lyrics
    ]
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")
