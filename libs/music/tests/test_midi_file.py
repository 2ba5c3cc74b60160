"""MIDI files built here with mido: meta events outside the first track are honoured (and
pretty_midi does not warn about them), and unusable bytes are refused with a sentence."""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest

from cadenza.music import (
    MidiFileError,
    MidiProblem,
    count_events,
    load_pretty_midi,
    parse_midi,
    quarter_clock,
    states_tempo,
    unwrap_riff,
)

TICKS = 480


def smf(tracks: list[list[mido.Message | mido.MetaMessage]]) -> bytes:
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS)
    midi.tracks = [mido.MidiTrack(events) for events in tracks]
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def quarters(pitches: list[int]) -> list[mido.Message | mido.MetaMessage]:
    """A quarter note on each pitch, one after the other, from the start."""
    events: list[mido.Message | mido.MetaMessage] = []
    for pitch in pitches:
        events.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        events.append(mido.Message("note_off", note=pitch, velocity=0, time=TICKS))
    return events


def tempo_on_a_later_track() -> bytes:
    """Track 0 holds only a name; the tempo (90 BPM), meter (3/4) and key (A minor) come on
    the notes' track, as many exporters write them, and the tempo changes to 180 BPM after
    two quarters."""
    first = [mido.MetaMessage("track_name", name="Song", time=0)]
    notes = [
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("key_signature", key="Am", time=0),
        *quarters([69, 71]),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(180), time=0),
        *quarters([72, 74]),
    ]
    return smf([first, notes])


@pytest.mark.filterwarnings("error")
def test_tempo_meter_and_key_on_a_later_track_are_honoured() -> None:
    midi = parse_midi(tempo_on_a_later_track(), max_notes=100)
    assert states_tempo(midi)
    assert {msg.type for msg in midi.tracks[1]} <= {"note_on", "note_off", "end_of_track"}
    pm = load_pretty_midi(midi)  # warnings are errors here: pretty_midi must not warn
    times, tempi = pm.get_tempo_changes()
    assert np.allclose(tempi, [90.0, 180.0], atol=1e-3)
    assert np.allclose(times, [0.0, 2 * 60 / 90])
    assert [(s.numerator, s.denominator) for s in pm.time_signature_changes] == [(3, 4)]
    assert [k.key_number for k in pm.key_signature_changes] == [21]  # A minor: 12 + 9
    starts = [n.start for n in pm.instruments[0].notes]
    # Two quarters at 90 BPM (2/3 s each), then two at 180 BPM (1/3 s each).
    assert np.allclose(starts, [0.0, 2 / 3, 4 / 3, 5 / 3])
    clock = quarter_clock(times, tempi)
    assert np.allclose(clock(np.array(starts)), [0.0, 1.0, 2.0, 3.0])


def test_a_file_without_tempo_says_so() -> None:
    midi = parse_midi(smf([quarters([60, 62])]), max_notes=100)
    assert not states_tempo(midi)
    assert load_pretty_midi(midi).get_tempo_changes()[1].tolist() == [120.0]


@pytest.mark.parametrize(
    ("data", "problem", "sentence"),
    [
        (b"", MidiProblem.EMPTY, "the MIDI file is empty"),
        (
            bytes(range(256)) * 4,
            MidiProblem.NOT_SMF,
            "the file is not a Standard MIDI File (it does not start with MThd)",
        ),
        (
            b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x40\x00\x90",
            MidiProblem.DAMAGED,
            "the MIDI file is damaged: it ends in the middle of a track",
        ),
        (
            b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x01\xe0",
            MidiProblem.NO_NOTES,
            "the MIDI file has no notes",
        ),
        (
            b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\xe7\x28MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
            MidiProblem.SMPTE_TIME,
            "the MIDI file counts time in SMPTE frames or not at all; only beats are read",
        ),
    ],
    ids=["empty", "garbage", "truncated", "header-only", "smpte"],
)
def test_unusable_bytes_are_refused_with_a_sentence(
    data: bytes, problem: MidiProblem, sentence: str
) -> None:
    with pytest.raises(MidiFileError) as caught:
        parse_midi(data, max_notes=100)
    assert caught.value.problem is problem
    assert str(caught.value) == sentence
    assert isinstance(caught.value, ValueError)


def test_a_parser_failure_becomes_the_reason() -> None:
    data = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0XXXX\x00\x00\x00\x04\x00\xff\x2f\x00"
    with pytest.raises(MidiFileError) as caught:
        parse_midi(data, max_notes=100)
    assert caught.value.problem is MidiProblem.DAMAGED
    assert str(caught.value) == f"the MIDI file is damaged: {caught.value.reason}"
    assert caught.value.reason and caught.value.reason[0].islower()
    assert not caught.value.reason.endswith(".")
    assert caught.value.__cause__ is not None  # the parser's own exception, for the logs


def test_limits_on_notes_and_length() -> None:
    data = smf([quarters([60, 62, 64, 65])])
    with pytest.raises(MidiFileError, match=r"^the MIDI file has 4 notes; the limit is 3$") as c:
        parse_midi(data, max_notes=3)
    assert (c.value.problem, c.value.notes, c.value.limit) == (MidiProblem.TOO_MANY_NOTES, 4, 3)
    with pytest.raises(MidiFileError, match="far too long: its last event is 4 beats after") as c:
        parse_midi(data, max_notes=100, max_ticks=3 * TICKS)
    assert (c.value.problem, c.value.last_beat) == (MidiProblem.TOO_LONG, 4.0)


def test_riff_wrapped_midi_is_unwrapped() -> None:
    data = smf([quarters([60])])
    chunk = b"data" + len(data).to_bytes(4, "little") + data + b"\x00" * (len(data) & 1)
    riff = b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + b"RMID" + chunk
    assert unwrap_riff(riff) == data
    assert unwrap_riff(data) == data
    with pytest.raises(MidiFileError, match="holds no MIDI data") as caught:
        unwrap_riff(b"RIFF\x04\x00\x00\x00RMID")
    assert caught.value.problem is MidiProblem.NO_RIFF_DATA


def _running_status_flood(notes: int, *, with_quarter_frame: bool = False) -> bytes:
    """Note-on/off pairs in running status (3 bytes each after the first), the kind of file
    that costs mido half a kilobyte per event."""
    events = b"\x00\x90\x3c\x5a" + b"\x01\x3c\x00\x00\x3c\x5a" * notes + b"\x00\xff\x2f\x00"
    if with_quarter_frame:  # a system message first: it must not stop the count
        events = b"\x00\xf1\x01" + events
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 1, 0xE0])
    return header + b"MTrk" + len(events).to_bytes(4, "big") + events


@pytest.mark.parametrize(
    "data",
    [
        smf([[mido.MetaMessage("track_name", name="x", time=0)], quarters([60, 62, 64])]),
        tempo_on_a_later_track(),
        _running_status_flood(1000),
        _running_status_flood(1000, with_quarter_frame=True),
        smf([[mido.Message("sysex", data=[1, 2, 3]), *quarters([60])]]),
    ],
)
def test_events_are_counted_on_the_bytes_as_mido_reads_them(data: bytes) -> None:
    midi = mido.MidiFile(file=io.BytesIO(data))
    assert count_events(data) == sum(len(track) for track in midi.tracks)


def test_a_flood_of_events_is_refused_before_parsing() -> None:
    data = _running_status_flood(300_000, with_quarter_frame=True)
    with pytest.raises(MidiFileError, match="more than 250,000 events") as caught:
        parse_midi(data, max_notes=10**9)
    assert caught.value.problem is MidiProblem.TOO_MANY_EVENTS
    assert count_events(data, max_events=10**9) == 600_003


def test_a_track_that_overruns_its_length_is_counted_as_mido_reads_it() -> None:
    data = bytearray(_running_status_flood(2000))
    # The track claims 11 bytes, which ends inside an event: mido reads every event of the
    # file (building each) before it trips on the end of the file. All of them count.
    data[18:22] = (11).to_bytes(4, "big")
    with pytest.raises(EOFError):
        mido.MidiFile(file=io.BytesIO(bytes(data)))
    assert count_events(bytes(data)) == 4002


def test_errors_survive_pickling() -> None:
    import pickle

    error = MidiFileError(MidiProblem.TOO_MANY_NOTES, "too many", notes=9, limit=3)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem, str(copy), copy.notes, copy.limit) == (
        MidiProblem.TOO_MANY_NOTES,
        "too many",
        9,
        3,
    )
