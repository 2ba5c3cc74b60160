"""Everything the catalog learns from a song's files, in one call (run in a thread)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cadenza.catalog.analysis.audio import AudioAnalysis, analyse_audio
from cadenza.catalog.analysis.embedding import song_embedding
from cadenza.catalog.analysis.errors import AnalysisError
from cadenza.catalog.analysis.fingerprint import landmarks_from_file
from cadenza.catalog.analysis.midi import MidiAnalysis, analyse_midi

__all__ = ["AnalysisError", "SongAnalysis", "analyse_song"]


@dataclass(frozen=True)
class SongAnalysis:
    midi: MidiAnalysis | None
    audio: AudioAnalysis | None
    embedding: np.ndarray
    # (hash, frame) landmarks of the audio; None without audio.
    landmarks: np.ndarray | None

    @property
    def duration_s(self) -> float:
        if self.audio is not None:
            return float(self.audio.duration_s)
        assert self.midi is not None
        return float(self.midi.duration_s)

    @property
    def tempo_bpm(self) -> float | None:
        source = self.midi if self.midi is not None else self.audio
        tempo = source.tempo_bpm if source is not None else None
        return float(tempo) if tempo else None

    @property
    def key_tonic(self) -> int:
        source = self.midi if self.midi is not None else self.audio
        assert source is not None
        return int(source.key.tonic)

    @property
    def mode(self) -> str:
        source = self.midi if self.midi is not None else self.audio
        assert source is not None
        return str(source.key.mode)

    @property
    def time_signature(self) -> str | None:
        return self.midi.time_signature if self.midi is not None else None

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.midi is not None:
            found["midi"] = self.midi.summary()
        if self.audio is not None:
            found["audio"] = self.audio.summary()
        if self.landmarks is not None:
            found["fingerprint_landmarks"] = len(self.landmarks)
        return found


def analyse_song(
    midi: Path | None,
    audio: Path | None,
    *,
    max_midi_seconds: float,
    max_audio_seconds: float,
    fingerprint: bool = True,
) -> SongAnalysis:
    """Analyse the MIDI and/or audio file; AnalysisError says what is wrong with either."""
    midi_analysis = None
    audio_analysis = None
    landmarks = None
    both = midi is not None and audio is not None
    if midi is not None:
        try:
            midi_analysis = analyse_midi(midi.read_bytes(), max_seconds=max_midi_seconds)
        except AnalysisError as e:
            raise AnalysisError(f"the MIDI file: {e}" if both else str(e)) from e
    if audio is not None:
        try:
            audio_analysis = analyse_audio(audio, max_seconds=max_audio_seconds)
        except AnalysisError as e:
            raise AnalysisError(f"the audio file: {e}" if both else str(e)) from e
        if fingerprint:
            landmarks = landmarks_from_file(audio, max_seconds=max_audio_seconds)
    embedding = song_embedding(midi_analysis, audio_analysis)
    return SongAnalysis(midi_analysis, audio_analysis, embedding, landmarks)
