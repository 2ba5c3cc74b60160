"""MIDI analysis on files built here with pretty_midi: what is read back, what transposing
changes (the tonic) and does not (the embedding), and readable errors for unusable files."""

from __future__ import annotations

import io
from collections.abc import Sequence

import mido
import numpy as np
import pretty_midi
import pytest

from cadenza.catalog.analysis.chords import QUALITIES
from cadenza.catalog.analysis.embedding import midi_embedding
from cadenza.catalog.analysis.errors import AnalysisError
from cadenza.catalog.analysis.midi import RHYTHM_BINS, analyse_midi

C_MAJOR_CHORDS = [(48, 60, 64, 67), (53, 60, 65, 69), (43, 59, 62, 65, 67), (48, 60, 64, 67)]
# Quarters and eighths over the four bars, mostly steps.
C_MAJOR_TUNE = [
    (72, 1.0), (74, 0.5), (76, 0.5), (77, 1.0), (76, 1.0),
    (74, 0.5), (72, 0.5), (74, 1.0), (76, 1.0), (72, 1.0),
    (71, 1.0), (74, 0.5), (77, 0.5), (79, 1.0), (77, 1.0),
    (76, 1.0), (74, 1.0), (72, 2.0),
]  # fmt: skip
# A harmonic minor waltz, i–iv–V–i twice: dotted halves under dotted-quarter/eighth figures.
A_MINOR_CHORDS = [(45, 57, 60, 64), (50, 57, 62, 65), (40, 56, 59, 64), (45, 57, 60, 64)] * 2
A_MINOR_TUNE = [
    (76, 1.5), (77, 0.5), (76, 1.0), (74, 1.5), (72, 0.5), (71, 1.0),
    (71, 1.5), (68, 0.5), (71, 1.0), (69, 3.0),
    (72, 1.5), (74, 0.5), (72, 1.0), (77, 1.5), (76, 0.5), (74, 1.0),
    (68, 1.5), (71, 0.5), (74, 1.0), (69, 3.0),
]  # fmt: skip


def write(pm: pretty_midi.PrettyMIDI) -> bytes:
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


def piece(
    chords: Sequence[tuple[int, ...]],
    tune: Sequence[tuple[int, float]],
    *,
    beats_per_bar: int,
    tempo: float,
    shift: int = 0,
    drums: bool = False,
) -> bytes:
    """Chords a bar each on a piano, a tune on a flute, optionally a kick and snare."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(beats_per_bar, 4, 0.0))
    beat = 60.0 / tempo
    piano = pretty_midi.Instrument(program=0, name="Piano")
    for bar, chord in enumerate(chords):
        t = bar * beats_per_bar * beat
        piano.notes += [pretty_midi.Note(70, p + shift, t, t + beats_per_bar * beat) for p in chord]
    flute = pretty_midi.Instrument(program=73, name="Flute")
    t = 0.0
    for pitch, beats in tune:
        flute.notes.append(pretty_midi.Note(90, pitch + shift, t, t + beats * beat * 0.95))
        t += beats * beat
    pm.instruments += [piano, flute]
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True, name="Kit")
        for i in range(len(chords) * beats_per_bar):
            drum = 36 if i % 2 == 0 else 38
            kit.notes.append(pretty_midi.Note(100, drum, i * beat, i * beat + 0.1))
        pm.instruments.append(kit)
    return write(pm)


def c_major(shift: int = 0) -> bytes:
    return piece(C_MAJOR_CHORDS, C_MAJOR_TUNE, beats_per_bar=4, tempo=96, shift=shift, drums=True)


def a_minor() -> bytes:
    return piece(A_MINOR_CHORDS, A_MINOR_TUNE, beats_per_bar=3, tempo=132)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_tempo_meter_instruments_and_notes_are_read_back() -> None:
    a = analyse_midi(c_major())
    assert a.tempo_bpm == pytest.approx(96.0)
    assert a.tempo_stated
    assert a.time_signature == "4/4"
    assert [(i.name, i.program, i.is_drum, i.notes) for i in a.instruments] == [
        ("Piano", 0, False, sum(len(c) for c in C_MAJOR_CHORDS)),
        ("Flute", 73, False, len(C_MAJOR_TUNE)),
        ("Kit", 0, True, 16),
    ]
    assert a.note_count == sum(i.notes for i in a.instruments)
    assert a.duration_s == pytest.approx(16 * 60 / 96)
    assert a.note_density == pytest.approx(a.note_count / a.duration_s)
    assert a.pitch_range == 79 - 43


def test_known_keys() -> None:
    assert analyse_midi(c_major()).key.name == "C major"
    minor = analyse_midi(a_minor())
    assert minor.key.name == "A minor"
    assert minor.time_signature == "3/4"
    assert minor.tempo_bpm == pytest.approx(132.0, abs=0.001)


def test_histograms_are_distributions_with_the_expected_shape() -> None:
    a = analyse_midi(c_major())
    for histogram, size in [
        (a.pitch_class_histogram, 12),
        (a.interval_histogram, 25),
        (a.chord_quality_histogram, len(QUALITIES)),
        (a.chord_root_histogram, 12),
        (a.rhythm_histogram, len(RHYTHM_BINS)),
    ]:
        assert histogram.shape == (size,)
        assert histogram.sum() == pytest.approx(1.0)
        assert (histogram >= 0).all()
    # The tune moves in steps: seconds (±2) and minor seconds (±1) are most of it.
    steps = a.interval_histogram[[10, 11, 13, 14]].sum()
    assert steps > 0.6
    # Quarters and eighths only: the onsets (drums on every beat, tune) are 1/2 or 1 apart.
    rhythm = dict(zip(RHYTHM_BINS, a.rhythm_histogram, strict=True))
    assert rhythm["1/2"] + rhythm["1"] == pytest.approx(1.0)


def test_a_bare_progression_gives_its_chords_per_beat() -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    # I, IV, V7, I in D major, one bar (two seconds) each.
    for bar, chord in enumerate([(62, 66, 69), (67, 71, 74), (69, 73, 76, 79), (62, 66, 69)]):
        piano.notes += [pretty_midi.Note(80, p, 2.0 * bar, 2.0 * bar + 2.0) for p in chord]
    pm.instruments.append(piano)
    a = analyse_midi(write(pm))
    assert a.key.name == "D major"
    qualities = dict(zip(QUALITIES, a.chord_quality_histogram, strict=True))
    assert qualities["major"] == pytest.approx(0.75)
    assert qualities["dominant7"] == pytest.approx(0.25)
    assert a.chord_root_histogram[[0, 5, 7]] == pytest.approx([0.5, 0.25, 0.25])
    assert a.polyphony == pytest.approx((3 * 12 + 4 * 4) / 16)


def test_transposing_moves_the_tonic_and_keeps_the_embedding() -> None:
    original, moved = analyse_midi(c_major()), analyse_midi(c_major(shift=5))
    assert moved.key.tonic == (original.key.tonic + 5) % 12
    assert moved.key.mode == original.key.mode
    assert np.allclose(np.roll(original.pitch_class_histogram, 5), moved.pitch_class_histogram)
    assert cosine(midi_embedding(original), midi_embedding(moved)) > 0.999


def test_a_different_piece_is_clearly_less_similar() -> None:
    original = midi_embedding(analyse_midi(c_major()))
    transposed = midi_embedding(analyse_midi(c_major(shift=5)))
    other = midi_embedding(analyse_midi(a_minor()))
    assert cosine(original, other) < cosine(original, transposed) - 0.3


def test_embedding_is_unit_length_float32() -> None:
    e = midi_embedding(analyse_midi(a_minor()))
    assert e.dtype == np.float32
    assert e.shape == (64,)
    assert float(np.linalg.norm(e)) == pytest.approx(1.0, abs=1e-6)


def test_summary_is_json_safe() -> None:
    import json

    summary = analyse_midi(c_major()).summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["key"] == "C major"
    assert summary["time_signature"] == "4/4"
    assert summary["instruments"][1] == {
        "program": 73,
        "name": "Flute",
        "is_drum": False,
        "notes": len(C_MAJOR_TUNE),
    }
    assert len(summary["interval_histogram"]) == 25


def test_meta_events_on_other_tracks_do_not_warn() -> None:
    # pretty_midi warns about tempo events outside track 0; the analysis swallows it (pytest
    # turns warnings into errors here).
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    meta, notes = mido.MidiTrack(), mido.MidiTrack()
    notes.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100), time=0))
    for pitch in (60, 62, 64, 65, 67):
        notes.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        notes.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    midi.tracks += [meta, notes]
    out = io.BytesIO()
    midi.save(file=out)
    a = analyse_midi(out.getvalue())
    assert a.note_count == 5
    assert a.tempo_bpm == pytest.approx(100.0)
    assert a.time_signature is None


def no_notes() -> bytes:
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=0))
    return write(pm)


def hours_long() -> bytes:
    # 20 BPM keeps nine hours under pretty_midi's tick limit: the duration check must say it.
    pm = pretty_midi.PrettyMIDI(initial_tempo=20)
    piano = pretty_midi.Instrument(program=0)
    piano.notes += [pretty_midi.Note(80, 60, 0.0, 1.0), pretty_midi.Note(80, 62, 32399, 32400)]
    pm.instruments.append(piano)
    return write(pm)


def far_too_many_ticks() -> bytes:
    midi = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    track.append(mido.Message("note_on", note=60, velocity=80, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=50_000_000))
    midi.tracks.append(track)
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def absurd_tempo() -> bytes:
    pm = pretty_midi.PrettyMIDI(initial_tempo=50_000)
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(80, 60, 0.0, 0.5))
    pm.instruments.append(piano)
    return write(pm)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt not midi at all", "not a Standard MIDI File"),
        (bytes(range(256)) * 4, "does not start with MThd"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x01\xe0", "has no notes"),
        (no_notes(), "has no notes"),
        (c_major()[:60], "damaged"),
        (hours_long(), "lasts 9 hours; the limit is 60 minutes"),
        (far_too_many_ticks(), "far too long"),
        (absurd_tempo(), r"tempo is 50,\d{3} BPM"),
    ],
    ids=["empty", "wav", "garbage", "header-only", "no-notes", "truncated", "9h", "ticks", "tempo"],
)
def test_unusable_files_say_why(data: bytes, words: str) -> None:
    with pytest.raises(AnalysisError, match=words) as caught:
        analyse_midi(data)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("the ")


def test_damaged_files_only_ever_raise_analysis_errors() -> None:
    good = c_major()
    rng = np.random.default_rng(5)
    analysed, refusals = 0, []
    for _ in range(150):
        data = bytearray(good)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 6))):
            data[position] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            data = data[: int(rng.integers(14, len(data)))]
        try:
            analyse_midi(bytes(data))
            analysed += 1
        except AnalysisError as e:
            refusals.append(str(e))
    assert analysed > 0 and refusals
    assert [r for r in refusals if not r.startswith(("the MIDI file", "the file "))] == []


def test_note_limit() -> None:
    with pytest.raises(AnalysisError, match=r"has \d+ notes; the limit is 10$"):
        analyse_midi(c_major(), max_notes=10)


def test_duration_limit_is_a_parameter() -> None:
    with pytest.raises(AnalysisError, match="lasts 10 seconds; the limit is 5 seconds"):
        analyse_midi(c_major(), max_seconds=5)
