"""Standard MIDI Files read safely: every way a file can be unusable becomes a MidiFileError
whose message is one sentence a person understands.

mido parses the bytes, a few structural checks turn absurd files into readable errors before
anything large is built, and pretty_midi maps ticks to seconds and pairs notes. Both libraries
raise many kinds of exceptions on broken files; every one becomes a MidiFileError. The one
warning pretty_midi gives while loading (meta events outside the first track) is prevented
by moving those events, see `gather_meta`.

Each error carries its `problem` (and the numbers in it), so a service can word the sentence
its own way; `str(error)` is a neutral sentence about "the MIDI file".
"""

from __future__ import annotations

import enum
import io
import itertools
from typing import Any

import mido
import pretty_midi
from mido.messages.specs import SPEC_BY_STATUS

# pretty_midi builds a tick -> seconds table as long as the last tick; it refuses more itself.
MAX_TICKS = 10_000_000
# Events (notes, controllers, meta) in one file. mido makes a Python object of each, about half
# a kilobyte, so the count is checked on the bytes before any is made; a long orchestral
# score holds well under a hundred thousand.
MAX_EVENTS = 250_000
# The events pretty_midi reads from the first track only.
GLOBAL_META = ("set_tempo", "time_signature", "key_signature")


class MidiProblem(enum.Enum):
    EMPTY = "empty"
    NOT_SMF = "not a Standard MIDI File"
    NO_RIFF_DATA = "RIFF without MIDI data"
    DAMAGED = "damaged"  # mido could not parse it; `reason` says why
    SMPTE_TIME = "SMPTE time"
    TOO_LONG = "too long"  # `last_beat`: where the last event lies
    NO_NOTES = "no notes"
    TOO_MANY_NOTES = "too many notes"  # `notes` and `limit`
    TOO_MANY_EVENTS = "too many events"  # `limit`
    UNREADABLE = "unreadable"  # pretty_midi could not load it; `reason` says why


class MidiFileError(ValueError):
    """A MIDI file that cannot be used; the message is one sentence a person understands."""

    def __init__(
        self,
        problem: MidiProblem,
        message: str,
        *,
        reason: str = "",
        last_beat: float = 0.0,
        notes: int = 0,
        limit: int = 0,
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.reason = reason
        self.last_beat = last_beat
        self.notes = notes
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (it crosses from a sandbox's child process): rebuilt from its fields.
        return (type(self), (self.problem, str(self)), dict(self.__dict__))


def unwrap_riff(data: bytes) -> bytes:
    """The Standard MIDI File inside a RIFF "RMID" wrapper (old Windows .rmi files); other
    bytes as they are."""
    if data[:4] != b"RIFF" or data[8:12] != b"RMID":
        return data
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"data":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise MidiFileError(MidiProblem.NO_RIFF_DATA, "the RIFF MIDI file holds no MIDI data")


def count_events(data: bytes, *, max_events: int = MAX_EVENTS) -> int:
    """The events in a Standard MIDI File's tracks, counted on its bytes the way mido will
    read them (running status, SysEx, meta and system messages; a track read on past its
    stated length, as mido does) without building anything; MidiFileError once the count
    passes `max_events`. What it cannot read is left for the parser to report."""
    if not data.startswith(b"MThd"):
        raise MidiFileError(
            MidiProblem.NOT_SMF,
            "the file is not a Standard MIDI File (it does not start with MThd)",
        )
    events = 0
    pos = 8 + int.from_bytes(data[4:8], "big")
    while pos + 8 <= len(data) and data[pos : pos + 4] == b"MTrk":
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        counted, pos = _track_events(data, pos + 8, size, max_events - events)
        events += counted
        if events > max_events:
            raise MidiFileError(
                MidiProblem.TOO_MANY_EVENTS,
                f"the MIDI file holds more than {max_events:,} events; no song needs that many",
                limit=max_events,
            )
    return events


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    return value, pos


def _track_events(data: bytes, start: int, size: int, budget: int) -> tuple[int, int]:
    """(events in the track that starts at `start`, where it ends), stopping past `budget`
    events or where mido would stop with an error."""
    count = 0
    running: int | None = None
    pos = start
    while pos - start != size and pos < len(data) and count <= budget:
        _, pos = _varlen(data, pos)  # delta time
        if pos >= len(data):
            break
        status = data[pos]
        pos += 1
        peeked = 0
        if status < 0x80:
            if running is None:
                break  # mido: running status without a status before it
            status, peeked = running, 1
        elif status != 0xFF:
            running = status  # mido lets every status but meta set the running status
        if status == 0xFF:  # meta: type, length, data
            length, pos = _varlen(data, pos + 1)
            pos += length
        elif status in (0xF0, 0xF7):  # SysEx: length, data
            length, pos = _varlen(data, pos)
            pos += length
        else:
            spec = SPEC_BY_STATUS.get(status)
            if spec is None:
                break  # mido: undefined status byte
            pos += max(0, spec["length"] - 1 - peeked)
        count += 1
    return count, pos


def parse_midi(
    data: bytes, *, max_notes: int, max_ticks: int = MAX_TICKS, max_events: int = MAX_EVENTS
) -> mido.MidiFile:
    """Parse a Standard MIDI File's bytes, refusing files that are not one, are damaged,
    hold more than `max_events` events (counted on the bytes first), count time in SMPTE
    frames, last more than `max_ticks` or have no notes or more than `max_notes` (note-ons).
    Empty tracks are dropped and tempo, meter and key events are gathered into the first
    track (`gather_meta`), ready for `load_pretty_midi`."""
    if not data:
        raise MidiFileError(MidiProblem.EMPTY, "the MIDI file is empty")
    count_events(data, max_events=max_events)
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as e:  # mido raises whatever its parser trips on
        if isinstance(e, EOFError):
            reason = "it ends in the middle of a track"
        else:
            reason = failure_reason(e)
        raise MidiFileError(
            MidiProblem.DAMAGED, f"the MIDI file is damaged: {reason}", reason=reason
        ) from e
    declared_tracks = int.from_bytes(data[10:12], "big") if len(data) >= 12 else 0
    if declared_tracks > len(midi.tracks):
        reason = (
            f"its header announces {declared_tracks:,} tracks but it holds {len(midi.tracks):,}"
        )
        raise MidiFileError(
            MidiProblem.DAMAGED, f"the MIDI file is damaged: {reason}", reason=reason
        )
    if midi.ticks_per_beat <= 0 or midi.ticks_per_beat & 0x8000:
        raise MidiFileError(
            MidiProblem.SMPTE_TIME,
            "the MIDI file counts time in SMPTE frames or not at all; only beats are read",
        )
    midi.tracks = [track for track in midi.tracks if len(track)]
    gather_meta(midi)
    last_tick = max((sum(msg.time for msg in track) for track in midi.tracks), default=0)
    if last_tick > max_ticks:
        last_beat = last_tick / midi.ticks_per_beat
        raise MidiFileError(
            MidiProblem.TOO_LONG,
            f"the MIDI file is damaged or far too long: its last event is"
            f" {last_beat:,.0f} beats after the start",
            last_beat=last_beat,
        )
    note_ons = sum(
        1 for track in midi.tracks for msg in track if msg.type == "note_on" and msg.velocity
    )
    if note_ons == 0:
        raise MidiFileError(MidiProblem.NO_NOTES, "the MIDI file has no notes")
    if note_ons > max_notes:
        raise MidiFileError(
            MidiProblem.TOO_MANY_NOTES,
            f"the MIDI file has {note_ons:,} notes; the limit is {max_notes:,}",
            notes=note_ons,
            limit=max_notes,
        )
    return midi


def load_pretty_midi(midi: mido.MidiFile) -> pretty_midi.PrettyMIDI:
    """pretty_midi's view of a parsed file (seconds, paired notes, instruments)."""
    try:
        return pretty_midi.PrettyMIDI(mido_object=midi)
    except Exception as e:  # pretty_midi raises whatever its tempo map or pairing trips on
        reason = failure_reason(e)
        raise MidiFileError(
            MidiProblem.UNREADABLE, f"the MIDI file could not be read: {reason}", reason=reason
        ) from e


def states_tempo(midi: mido.MidiFile) -> bool:
    """Whether the file sets a tempo at all (pretty_midi assumes 120 BPM when it does not)."""
    return any(msg.type == "set_tempo" for track in midi.tracks for msg in track)


def failure_reason(e: Exception) -> str:
    """A parser's exception as the end of a sentence: "its events contradict each other" for
    the parsers' own bug-like failures, otherwise their message, lower-cased and unpunctuated."""
    if isinstance(e, LookupError | TypeError | AttributeError | ArithmeticError):
        return "its events contradict each other"
    text = str(e).strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else type(e).__name__


def gather_meta(midi: mido.MidiFile) -> None:
    """Move tempo, meter and key events from later tracks into the first, the only one
    pretty_midi reads them from (the standard puts them there; many exporters do not).

    Moving them also keeps pretty_midi from warning about them: the services load files in
    worker threads, where `warnings.catch_warnings` is not safe (it swaps process-wide state),
    so warnings are prevented rather than caught.
    """
    if len(midi.tracks) < 2 or not any(
        msg.type in GLOBAL_META for track in midi.tracks[1:] for msg in track
    ):
        return
    moved = []
    for i in range(1, len(midi.tracks)):
        kept = mido.MidiTrack()
        carry = 0  # the removed events' delta times go to the next event kept
        for tick, msg in _absolute(midi.tracks[i]):
            if msg.type in GLOBAL_META:
                moved.append((tick, msg))
                carry += msg.time
            else:
                kept.append(msg.copy(time=msg.time + carry))
                carry = 0
        midi.tracks[i] = kept
    first = mido.MidiTrack()
    previous = 0
    for tick, msg in sorted([*_absolute(midi.tracks[0]), *moved], key=lambda e: e[0]):
        first.append(msg.copy(time=tick - previous))
        previous = tick
    midi.tracks[0] = first


def _absolute(track: mido.MidiTrack) -> list[tuple[int, Any]]:
    ticks = itertools.accumulate(msg.time for msg in track)
    return list(zip(ticks, track, strict=True))
