"""Audio analysis on synthetic files: tempo of a click track, loudness of a sine at a known
level, the key of a sustained triad, exact durations, and readable errors.

librosa compiles its beat tracker on first use (numba, several seconds): each file is
analysed once per module and the tests read the results.
"""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from cadenza.catalog.analysis import audio
from cadenza.catalog.analysis.audio import AudioAnalysis, analyse_audio
from cadenza.catalog.analysis.embedding import audio_embedding
from cadenza.catalog.analysis.errors import AnalysisError

RATE = 44100


def harmonic_tone(freq: float, seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    tone: np.ndarray = np.sum([np.sin(2 * np.pi * freq * h * t) / h for h in range(1, 5)], axis=0)
    return tone


def midi_hz(pitch: int) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def triad(pitches: tuple[int, ...], seconds: float = 8.0, rate: int = RATE) -> np.ndarray:
    y = np.sum([harmonic_tone(midi_hz(p), seconds, rate) for p in pitches], axis=0)
    scaled: np.ndarray = 0.2 * y / np.abs(y).max()
    return scaled


def click_track(bpm: float, seconds: float) -> np.ndarray:
    """A decaying noise burst on every beat over a quiet A3 drone."""
    rng = np.random.default_rng(3)
    y = 0.05 * harmonic_tone(220.0, seconds)
    burst = rng.standard_normal(1500) * np.exp(-np.arange(1500) / 250)
    for beat in np.arange(0, seconds, 60 / bpm):
        start = round(beat * RATE)
        end = min(start + len(burst), len(y))
        y[start:end] += 0.6 * burst[: end - start]
    return y


def sine_at_dbfs_rms(level_db: float, seconds: float = 10.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    sine: np.ndarray = np.sqrt(2) * 10 ** (level_db / 20) * np.sin(2 * np.pi * 1000.0 * t)
    return sine


def write(path: Path, samples: np.ndarray, rate: int = RATE, **kwargs: object) -> Path:
    sf.write(str(path), samples.astype(np.float32), rate, **kwargs)
    return path


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AudioAnalysis]:
    d = tmp_path_factory.mktemp("audio")
    stereo_sine = np.stack([sine_at_dbfs_rms(-20)] * 2, axis=1)
    files = {
        "clicks": write(d / "clicks.wav", click_track(120, 20.0)),
        "sine_mono": write(d / "sine.wav", sine_at_dbfs_rms(-20)),
        "sine_stereo": write(d / "sine2.flac", stereo_sine),
        "c_major": write(d / "c.wav", triad((48, 60, 64, 67), rate=48000), rate=48000),
        "f_major": write(d / "f.wav", triad((53, 65, 69, 72))),
        "a_minor": write(d / "am.ogg", triad((45, 57, 60, 64)), format="OGG", subtype="VORBIS"),
        "silence": write(d / "silence.wav", np.zeros(RATE * 3)),
        "odd": write(d / "odd.wav", sine_at_dbfs_rms(-30, seconds=1.2345, rate=22050), rate=22050),
        "tiny": write(d / "tiny.wav", sine_at_dbfs_rms(-30, seconds=0.05)),
    }
    return {name: analyse_audio(path) for name, path in files.items()}


def test_tempo_of_a_120_bpm_click_track(analysed: dict[str, AudioAnalysis]) -> None:
    # librosa's tempo prior is centred on 120 BPM, so this octave (not 60 or 240) is expected.
    a = analysed["clicks"]
    assert a.tempo_bpm == pytest.approx(120.0, rel=0.03)
    assert abs(a.beat_count - 40) <= 3


def test_duration_rate_and_channels_are_exact(analysed: dict[str, AudioAnalysis]) -> None:
    assert analysed["clicks"].duration_s == 20.0
    assert analysed["odd"].duration_s == round(1.2345 * 22050) / 22050
    assert analysed["odd"].sample_rate == 22050
    assert analysed["c_major"].sample_rate == 48000
    assert analysed["sine_stereo"].channels == 2
    assert analysed["sine_mono"].channels == 1


def test_loudness_of_a_sine_at_minus_20_dbfs_rms(analysed: dict[str, AudioAnalysis]) -> None:
    # BS.1770 reads a 1 kHz sine in one channel at its RMS level in dBFS; a second channel
    # carrying the same adds 10·log10(2) ≈ 3.01 dB.
    assert analysed["sine_mono"].loudness_lufs == pytest.approx(-20.0, abs=0.3)
    assert analysed["sine_stereo"].loudness_lufs == pytest.approx(-20.0 + 3.01, abs=0.3)


def test_key_of_sustained_triads(analysed: dict[str, AudioAnalysis]) -> None:
    assert analysed["c_major"].key.name == "C major"
    assert analysed["f_major"].key.name == "F major"
    assert analysed["a_minor"].key.name == "A minor"
    chroma = analysed["c_major"].chroma
    assert chroma.sum() == pytest.approx(1.0)
    assert set(np.argsort(chroma)[-3:]) == {0, 4, 7}  # C, E and G carry the most energy


def test_chords_of_a_triad_are_major_on_the_tonic(analysed: dict[str, AudioAnalysis]) -> None:
    a = analysed["c_major"]
    assert a.chord_quality_histogram[0] == pytest.approx(1.0)
    assert a.chord_root_histogram[0] == pytest.approx(1.0)


def test_silence_is_analysed_without_loudness_or_tempo(analysed: dict[str, AudioAnalysis]) -> None:
    a = analysed["silence"]
    assert a.duration_s == 3.0
    assert a.loudness_lufs is None
    assert a.tempo_bpm is None
    assert a.key.confidence == 0.0
    assert not a.chroma.any()
    assert np.linalg.norm(audio_embedding(a)) == pytest.approx(1.0, abs=1e-6)


def test_transposed_audio_embeds_alike(analysed: dict[str, AudioAnalysis]) -> None:
    c, f = audio_embedding(analysed["c_major"]), audio_embedding(analysed["f_major"])
    minor = audio_embedding(analysed["a_minor"])
    assert c.dtype == np.float32
    assert float(c @ f) > 0.98
    assert float(c @ minor) < float(c @ f) - 0.2


def test_a_clip_shorter_than_a_loudness_block(analysed: dict[str, AudioAnalysis]) -> None:
    a = analysed["tiny"]
    assert a.duration_s == round(0.05 * RATE) / RATE
    assert a.loudness_lufs is None  # BS.1770 gates 400 ms blocks
    assert a.chroma.sum() == pytest.approx(1.0)


def test_summary_is_json_safe(analysed: dict[str, AudioAnalysis]) -> None:
    summary = analysed["clicks"].summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["duration_s"] == 20.0
    assert len(summary["chroma"]) == 12
    assert analysed["silence"].summary()["loudness_lufs"] is None


def test_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    path.write_bytes(b"this is a text file, not a recording" * 10)
    with pytest.raises(AnalysisError, match="not audio libsndfile can decode"):
        analyse_audio(path)


def test_empty_audio(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(AnalysisError, match="empty"):
        analyse_audio(path)


def test_too_long(tmp_path: Path) -> None:
    path = write(tmp_path / "long.wav", np.zeros(RATE * 3))
    with pytest.raises(AnalysisError, match="lasts 3 seconds; the limit is 2 seconds"):
        analyse_audio(path, max_seconds=2)


def test_chroma_in_chunks_equals_chroma_in_one_go(monkeypatch: pytest.MonkeyPatch) -> None:
    mono = triad((60, 64, 67), seconds=6.0, rate=22050).astype(np.float32)
    monkeypatch.setattr(audio, "CHROMA_CHUNK_SECONDS", 1.0)
    chunked = audio._chroma(mono)
    middle = mono[(len(mono) - 43 * 512) // 2 :][: 43 * 512]
    tuning = librosa.estimate_tuning(y=middle, sr=22050, n_fft=audio.CHROMA_N_FFT)
    whole = librosa.feature.chroma_stft(
        y=mono, sr=22050, n_fft=audio.CHROMA_N_FFT, hop_length=512, tuning=tuning, norm=None
    )
    assert chunked.shape == whole.shape
    assert np.allclose(chunked, whole, rtol=1e-4, atol=1e-6 * whole.max())
