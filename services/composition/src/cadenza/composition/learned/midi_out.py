"""The learned engine's MIDI files, written with mido on the encoding's exact sixteenth grid
(ticks, not seconds, so a piece read back gives the same tokens): a conductor track (tempo,
metre and, when known, the key signature), then one track per part, moved from C into the
piece's key."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import mido

from cadenza.composition.engine.theory import Key
from cadenza.composition.learned.tokens import STEPS_PER_QUARTER, Note, Score, from_c

TICKS_PER_QUARTER = 480
VELOCITY = 80


@dataclass(frozen=True)
class Part:
    name: str
    program: int
    role: str  # "voice 1".., "chords", "bass"
    notes: tuple[Note, ...]  # voice numbers are ignored; pitches in C


def write_midi(
    parts: Sequence[Part],
    meter: tuple[int, int],
    tempo_bpm: float,
    tonic: int,
    key: Key | None = None,
) -> bytes:
    """A type-1 MIDI file of the parts, moved from C up or down to `tonic` (`key`, when
    given, is written as the key signature)."""
    shift = from_c(tonic)
    ticks = TICKS_PER_QUARTER // STEPS_PER_QUARTER
    file = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    conductor.append(
        mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0)
    )
    if key is not None:  # mido spells keys its own way: the usual tonic, "m" for minor
        usual = Key(key.tonic, key.mode).tonic_name
        name = usual + ("m" if key.mode == "minor" else "")
        conductor.append(mido.MetaMessage("key_signature", key=name, time=0))
    file.tracks.append(conductor)
    channels = [c for c in range(16) if c != 9]  # 9 is percussion
    for index, part in enumerate(parts):
        channel = channels[index % len(channels)]
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=part.name, time=0))
        track.append(mido.Message("program_change", channel=channel, program=part.program, time=0))
        events = []  # (tick, 0 off / 1 on, pitch): offs first, so a repeated pitch sounds twice
        for n in part.notes:
            pitch = min(max(n.pitch + shift, 0), 127)
            events.append((n.start * ticks, 1, pitch))
            events.append((n.end * ticks, 0, pitch))
        now = 0
        for tick, on, pitch in sorted(events):
            kind = "note_on" if on else "note_off"
            velocity = VELOCITY if on else 0
            track.append(
                mido.Message(kind, channel=channel, note=pitch, velocity=velocity, time=tick - now)
            )
            now = tick
        file.tracks.append(track)
    out = io.BytesIO()
    file.save(file=out)
    return out.getvalue()


def score_to_midi(score: Score, *, tempo_bpm: float = 100.0, tonic: int | None = None) -> bytes:
    """The score alone, one piano track per voice, in `tonic` (its own by default)."""
    parts = [
        Part(f"Voice {v + 1}", 0, f"voice {v + 1}", tuple(n for n in score.notes if n.voice == v))
        for v in range(score.voices)
    ]
    return write_midi(parts, score.meter, tempo_bpm, score.tonic if tonic is None else tonic)
