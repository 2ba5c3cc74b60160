"""A Standard MIDI File read into what the synth needs: timed channel events in seconds
and one part per MIDI channel that plays notes, named after its track.

Read with mido rather than pretty_midi: pretty_midi forgets which channel a track played
on and drops aftertouch, and the renderer needs both. Every channel message is kept (notes, program
and bank changes, all controllers including RPNs, pitch bend, aftertouch); system
exclusive and meta events other than tempo and track names are not rendered. Tracks that
share a channel are one part; a track spread over several channels (type 0 files) names
its parts after their General MIDI programs instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import pretty_midi

from cadenza.music import MAX_EVENTS, MidiFileError, count_events, unwrap_riff

DRUM_CHANNEL = 9
DEFAULT_TEMPO = 500_000  # µs per quarter note: 120 bpm, the SMF default
# Names beside the stems in a render's output (mix.wav, effects.wav, stems/, mastered.wav).
RESERVED_STEM_NAMES = frozenset({"mix", "effects", "stems", "mastered"})

# Event kinds; events sharing a time are dispatched in file order, as a MIDI player does.
NOTE_OFF, PROGRAM, CONTROL, PITCH_BEND, CHANNEL_PRESSURE, KEY_PRESSURE, NOTE_ON = range(7)
ALL_NOTES_OFF = 123  # the channel mode message: every sounding note goes into its release


class RenderError(ValueError):
    """The MIDI file or SoundFont cannot be rendered; the message says why, for a person."""


class RenderBudgetError(RenderError):
    """Rendering would write more than the job may."""


@dataclass(frozen=True)
class Part:
    """One MIDI channel that plays notes: one stem."""

    channel: int
    name: str
    stem: str  # file-safe and unique, case-insensitively
    program: int
    is_drum: bool
    notes: int

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "stem": self.stem,
            "channel": self.channel + 1,
            "program": self.program,
            "is_drum": self.is_drum,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Event:
    seconds: float
    kind: int
    channel: int
    a: int = 0
    b: int = 0


@dataclass(frozen=True)
class Score:
    parts: list[Part]
    events: list[Event]  # time order; only channels that play notes
    end_seconds: float  # the last channel event

    def until(self, seconds: float) -> Score:
        """The score's first `seconds`: later events dropped, and every channel's notes
        released there (All Notes Off), so the sound dies away as after a real ending."""
        if seconds >= self.end_seconds:
            return self
        kept = [event for event in self.events if event.seconds < seconds]
        released = [Event(seconds, CONTROL, part.channel, ALL_NOTES_OFF) for part in self.parts]
        return Score(self.parts, kept + released, seconds)


def read_score(path: Path, *, max_seconds: float, max_events: int = MAX_EVENTS) -> Score:
    try:
        # Counted on the bytes first: mido builds an object per event.
        count_events(unwrap_riff(path.read_bytes()), max_events=max_events)
        midi = mido.MidiFile(str(path), clip=True)
    except FileNotFoundError as e:
        raise RenderError("the MIDI file does not exist") from e
    except MidiFileError as e:
        raise RenderError(str(e)) from e
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as e:
        raise RenderError(f"the input is not a readable Standard MIDI File: {e}") from e
    if midi.type == 2:
        raise RenderError("type 2 MIDI files (independent sequences) are not supported")
    if midi.ticks_per_beat <= 0:
        raise RenderError("SMPTE-timed MIDI files are not supported; use ticks per beat")

    timed, tempos, track_names = _absolute_ticks(midi)
    ticks = np.array([tick for tick, _, _ in timed], dtype=np.int64)
    seconds = _ticks_to_seconds(ticks, tempos, midi.ticks_per_beat)
    parts = _parts(timed, track_names)
    if not parts:
        raise RenderError("the MIDI file has no notes to render")
    end_seconds = float(seconds[-1]) if len(seconds) else 0.0
    if end_seconds > max_seconds:
        raise RenderError(
            f"the MIDI file lasts {end_seconds / 60:.1f} minutes, longer than the "
            f"{max_seconds / 60:.0f} minutes a render may take"
        )
    playing = {part.channel for part in parts}
    events = [
        event
        for (_, _, message), at in zip(timed, seconds.tolist(), strict=True)
        if message.channel in playing and (event := _event(at, message)) is not None
    ]
    return Score(parts, events, end_seconds)


def _absolute_ticks(
    midi: mido.MidiFile,
) -> tuple[list[tuple[int, int, mido.Message]], list[tuple[int, int]], list[str]]:
    """Channel messages as (tick, track, message) in play order (ties: track order, then
    file order, as mido merges), the tempo map as (tick, µs per beat), and track names."""
    timed: list[tuple[int, int, mido.Message]] = []
    tempos: list[tuple[int, int]] = []
    names: list[str] = []
    for index, track in enumerate(midi.tracks):
        tick = 0
        name = ""
        for message in track:
            tick += message.time
            if message.is_meta:
                if message.type == "set_tempo":
                    tempos.append((tick, message.tempo))
                elif message.type == "track_name" and not name:
                    name = str(message.name).strip()
            elif hasattr(message, "channel"):
                timed.append((tick, index, message))
        names.append(name)
    timed.sort(key=lambda item: (item[0], item[1]))
    tempos.sort(key=lambda item: item[0])
    return timed, tempos, names


def _ticks_to_seconds(
    ticks: np.ndarray, tempos: list[tuple[int, int]], ticks_per_beat: int
) -> np.ndarray:
    change_ticks = np.array([0] + [tick for tick, _ in tempos], dtype=np.int64)
    change_tempos = np.array([DEFAULT_TEMPO] + [tempo for _, tempo in tempos], dtype=np.float64)
    seconds_per_tick = change_tempos / (ticks_per_beat * 1e6)
    change_seconds = np.concatenate(
        ([0.0], np.cumsum(np.diff(change_ticks) * seconds_per_tick[:-1]))
    )
    segment = np.searchsorted(change_ticks, ticks, side="right") - 1
    result: np.ndarray = (
        change_seconds[segment] + (ticks - change_ticks[segment]) * (seconds_per_tick[segment])
    )
    return result


def _event(at: float, message: mido.Message) -> Event | None:
    channel = message.channel
    match message.type:
        case "note_on" if message.velocity > 0:
            return Event(at, NOTE_ON, channel, message.note, message.velocity)
        case "note_on" | "note_off":
            return Event(at, NOTE_OFF, channel, message.note)
        case "control_change":
            return Event(at, CONTROL, channel, message.control, message.value)
        case "program_change":
            return Event(at, PROGRAM, channel, message.program)
        case "pitchwheel":
            return Event(at, PITCH_BEND, channel, message.pitch + 8192)
        case "aftertouch":
            return Event(at, CHANNEL_PRESSURE, channel, message.value)
        case "polytouch":
            return Event(at, KEY_PRESSURE, channel, message.note, message.value)
    return None


def _parts(timed: list[tuple[int, int, mido.Message]], track_names: list[str]) -> list[Part]:
    notes: dict[int, int] = {}
    first_track: dict[int, int] = {}
    program: dict[int, int] = {}
    channels_of_track: dict[int, set[int]] = {}
    for _, track, message in timed:
        channel = message.channel
        if message.type == "program_change" and channel not in notes:
            program[channel] = message.program  # the program its first note sounds with
        elif message.type == "note_on" and message.velocity > 0:
            notes[channel] = notes.get(channel, 0) + 1
            first_track.setdefault(channel, track)
            channels_of_track.setdefault(track, set()).add(channel)
    parts: list[Part] = []
    taken: set[str] = set(RESERVED_STEM_NAMES)
    for channel in sorted(notes):
        is_drum = channel == DRUM_CHANNEL
        track = first_track[channel]
        name = track_names[track]
        # A track that plays on several channels (type 0 files) names none of them.
        if not name or len(channels_of_track[track]) > 1:
            name = (
                "Drums"
                if is_drum
                else pretty_midi.program_to_instrument_name(program.get(channel, 0))
            )
        stem = _unique(_file_safe(name) or f"channel-{channel + 1}", taken)
        parts.append(Part(channel, name, stem, program.get(channel, 0), is_drum, notes[channel]))
    return parts


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:64]


def _unique(stem: str, taken: set[str]) -> str:
    candidate, n = stem, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate.lower())
    return candidate
