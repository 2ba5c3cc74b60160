"""The song embedding: 64 documented dimensions, groups weighted by their share, invariant
to transposition, and MIDI and audio filling in for each other."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from cadenza.catalog.analysis.audio import AudioAnalysis
from cadenza.catalog.analysis.embedding import (
    DIMENSIONS,
    EMBEDDING_DIM,
    GROUPS,
    audio_embedding,
    describe_dimensions,
    midi_embedding,
    song_embedding,
)
from cadenza.catalog.analysis.keys import KeyEstimate, Mode, estimate_key
from cadenza.catalog.analysis.midi import Instrument, MidiAnalysis

RNG = np.random.default_rng(11)


def distribution(size: int) -> np.ndarray:
    values = RNG.random(size) ** 2
    normalised: np.ndarray = values / values.sum()
    return normalised


def midi_analysis(**changes: Any) -> MidiAnalysis:
    pitch_classes = distribution(12)
    fields: dict[str, Any] = {
        "duration_s": 90.0,
        "tempo_bpm": 100.0,
        "tempo_stated": True,
        "time_signature": "4/4",
        "key": estimate_key(pitch_classes),
        "instruments": (Instrument(0, "Piano", False, 400), Instrument(0, "Kit", True, 200)),
        "note_count": 600,
        "note_density": 600 / 90,
        "pitch_class_histogram": pitch_classes,
        "interval_histogram": distribution(25),
        "chord_quality_histogram": distribution(6),
        "chord_root_histogram": distribution(12),
        "rhythm_histogram": distribution(8),
        "pitch_range": 30,
        "polyphony": 2.5,
    }
    fields.update(changes)
    return MidiAnalysis(**fields)


def audio_analysis(**changes: Any) -> AudioAnalysis:
    chroma = distribution(12)
    fields: dict[str, Any] = {
        "duration_s": 90.0,
        "sample_rate": 44100,
        "channels": 2,
        "analysed_seconds": 90.0,
        "tempo_bpm": 100.0,
        "beat_count": 150,
        "key": estimate_key(chroma),
        "loudness_lufs": -14.0,
        "chroma": chroma,
        "chord_quality_histogram": distribution(6),
        "chord_root_histogram": distribution(12),
    }
    fields.update(changes)
    return AudioAnalysis(**fields)


def group_slices() -> dict[str, slice]:
    slices, start = {}, 0
    for g in GROUPS:
        slices[g.name] = slice(start, start + len(g.dimensions))
        start += len(g.dimensions)
    return slices


def test_every_dimension_is_named_and_described() -> None:
    assert len(DIMENSIONS) == EMBEDDING_DIM == 64
    assert len(set(DIMENSIONS)) == 64
    described = describe_dimensions()
    assert [d["name"] for d in described] == list(DIMENSIONS)
    assert [d["index"] for d in described] == list(range(64))
    assert {d["group"] for d in described} == {g.name for g in GROUPS}
    assert sum(g.share for g in GROUPS) == pytest.approx(1.0)


def test_each_group_weighs_its_share() -> None:
    e = midi_embedding(midi_analysis())
    assert e.dtype == np.float32
    assert float(np.linalg.norm(e)) == pytest.approx(1.0, abs=1e-6)
    for group in GROUPS:
        part = e[group_slices()[group.name]]
        assert float(part @ part) == pytest.approx(group.share, abs=1e-5), group.name


def test_transposition_leaves_the_embedding_unchanged() -> None:
    base = midi_analysis()
    for n in range(1, 12):
        moved = replace(
            base,
            pitch_class_histogram=np.roll(base.pitch_class_histogram, n),
            key=KeyEstimate((base.key.tonic + n) % 12, base.key.mode, base.key.confidence),
        )
        assert np.allclose(midi_embedding(moved), midi_embedding(base), atol=1e-6)


def test_tempo_octaves_agree_and_other_tempi_do_not() -> None:
    tempo = group_slices()["tempo"]
    at = {bpm: midi_embedding(midi_analysis(tempo_bpm=bpm))[tempo] for bpm in (70, 140, 99)}
    assert np.allclose(at[70], at[140], atol=1e-6)
    assert float(at[70] @ at[99]) < 0


def test_mode_and_meter_pull_apart() -> None:
    base = midi_analysis()
    other_mode: Mode = "minor" if base.key.mode == "major" else "major"
    changed = replace(base, key=replace(base.key, mode=other_mode), time_signature="6/8")
    a, b = midi_embedding(base), midi_embedding(changed)
    assert float(a @ b) == pytest.approx(1 - 2 * (0.05 + 0.03), abs=1e-5)


def test_audio_only_fills_pitch_chords_mode_and_tempo() -> None:
    e = audio_embedding(audio_analysis())
    slices = group_slices()
    present = {g.name for g in GROUPS if np.any(e[slices[g.name]])}
    assert present == {"pitch_classes", "chord_roots", "chord_qualities", "mode", "tempo"}
    assert float(np.linalg.norm(e)) == pytest.approx(1.0, abs=1e-6)


def test_midi_is_preferred_and_audio_fills_what_it_lacks() -> None:
    midi, audio = midi_analysis(), audio_analysis(tempo_bpm=150.0)
    assert np.allclose(song_embedding(midi, audio), midi_embedding(midi))
    drums_only = midi_analysis(
        pitch_class_histogram=np.zeros(12),
        chord_quality_histogram=np.zeros(6),
        chord_root_histogram=np.zeros(12),
        key=KeyEstimate(0, "major", 0.0),
        tempo_stated=False,
    )
    both, alone = song_embedding(drums_only, audio), audio_embedding(audio)
    for name in ("pitch_classes", "chord_roots", "chord_qualities", "mode", "tempo"):
        part = group_slices()[name]
        assert np.allclose(unit(both[part]), unit(alone[part]), atol=1e-6), name
    assert np.any(both[group_slices()["rhythm"]])  # still the MIDI's


def unit(v: np.ndarray) -> np.ndarray:
    scaled: np.ndarray = v / np.linalg.norm(v)
    return scaled


def test_an_embedding_needs_an_analysis() -> None:
    with pytest.raises(ValueError, match="MIDI or an audio"):
        song_embedding(None, None)
