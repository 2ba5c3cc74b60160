"""What an audio file tells without a transcription: duration, tempo and beats, key, chords
and loudness.

Work is bounded whatever the file's length: tempo, beats, chroma and loudness come from at most
EXCERPT_SECONDS taken from the middle of the file (the most typical part of a song, away from
intros and fades), while the duration is the whole file's. A three-minute song is analysed
whole. The chroma is librosa's STFT chroma, several times faster on a CPU than the
constant-Q one and enough for a 12-bin key and chord profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pyloudnorm
import soundfile as sf
import soxr

from cadenza.catalog.analysis.chords import chord_histograms
from cadenza.catalog.analysis.errors import AnalysisError, describe_seconds
from cadenza.catalog.analysis.keys import KeyEstimate, estimate_key, key_name

ANALYSIS_RATE = 22050
EXCERPT_SECONDS = 180.0
HOP_LENGTH = 512
# 5.4 Hz bins at 22050 Hz: two semitones apart are resolved down to about 90 Hz.
CHROMA_N_FFT = 4096
# pyloudnorm's gating block: a file shorter than one has no integrated loudness.
LOUDNESS_BLOCK_SECONDS = 0.4
CHROMA_CHUNK_SECONDS = 30.0


@dataclass(frozen=True, eq=False)
class AudioAnalysis:
    duration_s: float  # the whole file
    sample_rate: int
    channels: int
    analysed_seconds: float  # the excerpt that tempo, beats, chroma and loudness come from
    tempo_bpm: float | None  # None when no beat was found (silence, a drone)
    beat_count: int  # beats in the analysed excerpt
    key: KeyEstimate
    loudness_lufs: float | None  # integrated (ITU-R BS.1770); None when silent or too short
    chroma: np.ndarray  # 12, absolute (0 = C), energy-weighted, sums to 1 (zeros when silent)
    chord_quality_histogram: np.ndarray  # 6, in chords.QUALITIES order, one chord per beat
    chord_root_histogram: np.ndarray  # 12, roots relative to key.tonic

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts for the catalog's `analysis` column."""
        return {
            "duration_s": round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "analysed_seconds": round(self.analysed_seconds, 3),
            "tempo_bpm": None if self.tempo_bpm is None else round(self.tempo_bpm, 2),
            "beat_count": self.beat_count,
            "key": key_name(self.key.tonic, self.key.mode),
            "key_confidence": round(self.key.confidence, 4),
            "loudness_lufs": None if self.loudness_lufs is None else round(self.loudness_lufs, 2),
            "chroma": [round(float(v), 4) for v in self.chroma],
            "chord_quality_histogram": [round(float(v), 4) for v in self.chord_quality_histogram],
            "chord_root_histogram": [round(float(v), 4) for v in self.chord_root_histogram],
        }


def analyse_audio(path: Path, *, max_seconds: float = 3600) -> AudioAnalysis:
    """Analyse an audio file libsndfile decodes; AnalysisError says why one cannot be used."""
    excerpt = read_excerpt(path, max_seconds, EXCERPT_SECONDS)
    samples, sample_rate = excerpt.samples, excerpt.rate
    loudness = _loudness(samples, sample_rate)
    mono = to_mono(samples, sample_rate, ANALYSIS_RATE)
    # librosa warns about input shorter than its FFT, and about estimating the tuning of
    # digital silence: both are avoided rather than caught (`warnings.catch_warnings` swaps
    # process-wide state, unsafe in the worker threads this runs in).
    mono = np.pad(mono, (0, max(0, CHROMA_N_FFT - len(mono))))
    tempo, beats = _beats(mono)
    chroma_frames = _chroma(mono)
    total = chroma_frames.sum(axis=1)
    chroma = total / total.sum() if total.sum() > 0 else np.zeros(12)
    key = estimate_key(chroma)
    # One chord per beat; without beats (a drone), one per analysis frame.
    if len(beats):
        windows = librosa.util.sync(chroma_frames, [int(b) for b in beats], aggregate=np.mean)
    else:
        windows = chroma_frames
    qualities, roots = chord_histograms(windows.T, key.tonic)
    return AudioAnalysis(
        duration_s=excerpt.file_frames / excerpt.file_rate,
        sample_rate=excerpt.file_rate,
        channels=excerpt.file_channels,
        analysed_seconds=len(samples) / sample_rate,
        tempo_bpm=tempo,
        beat_count=len(beats),
        key=key,
        loudness_lufs=loudness,
        chroma=_frozen(chroma),
        chord_quality_histogram=_frozen(qualities),
        chord_root_histogram=_frozen(roots),
    )


# The excerpt is kept at most at this rate and this many channels, so its memory is bounded
# whatever the file declares (768 kHz, 32 channels): 180 s of 48 kHz stereo is 69 MB.
EXCERPT_MAX_RATE = 48_000
EXCERPT_MAX_CHANNELS = 2
# Samples (frames × channels) decoded per read.
READ_SAMPLES = 1 << 20


@dataclass(frozen=True, eq=False)
class Excerpt:
    samples: np.ndarray  # (frames, channels) float32
    rate: int  # of `samples`
    file_rate: int
    file_channels: int
    file_frames: int  # the whole file's, at its own rate


def read_excerpt(path: Path, max_seconds: float, excerpt_seconds: float) -> Excerpt:
    """Samples from the middle of the file, at most `excerpt_seconds`, at most
    EXCERPT_MAX_CHANNELS (more are mixed down), resampled to EXCERPT_MAX_RATE when faster.
    Read block by block: memory does not depend on the file's rate or channels."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate, frames, channels = int(f.samplerate), int(f.frames), int(f.channels)
            if frames <= 0:
                raise AnalysisError("the audio file is empty: it holds no samples")
            if frames / rate > max_seconds:
                raise AnalysisError(
                    f"the audio lasts {describe_seconds(frames / rate)};"
                    f" the limit is {describe_seconds(max_seconds)}"
                )
            wanted = min(frames, round(excerpt_seconds * rate))
            if wanted < frames and f.seekable():
                f.seek((frames - wanted) // 2)
            out_rate = min(rate, EXCERPT_MAX_RATE)
            out_channels = min(channels, EXCERPT_MAX_CHANNELS)
            stream = (
                soxr.ResampleStream(rate, out_rate, out_channels, dtype="float32", quality="HQ")
                if out_rate != rate
                else None
            )
            parts: list[np.ndarray] = []
            per_read = max(1, READ_SAMPLES // channels)
            left = wanted
            while True:
                block = f.read(min(left, per_read), dtype="float32", always_2d=True)
                left -= len(block)
                last = len(block) == 0 or left <= 0
                if channels > out_channels:  # mix down, keeping left and right apart
                    block = np.stack(
                        [block[:, 0::2].mean(axis=1), block[:, 1::2].mean(axis=1)], axis=1
                    )
                block = np.ascontiguousarray(block, dtype=np.float32)
                if stream is not None:
                    block = stream.resample_chunk(block, last=last)
                parts.append(block)
                if last:
                    break
    except AnalysisError:
        raise
    except Exception as e:  # libsndfile's errors, and what a broken header makes of sizes
        raise AnalysisError(f"the file is not audio libsndfile can decode ({e})") from e
    samples = np.concatenate(parts) if parts else np.zeros((0, out_channels), np.float32)
    if not len(samples):
        raise AnalysisError("the audio file is empty: no samples could be decoded")
    return Excerpt(samples, out_rate, rate, channels, frames)


def to_mono(samples: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    """The channels' mean, resampled (soxr, high quality) to `rate` when it differs."""
    mono = np.ascontiguousarray(samples.mean(axis=1), dtype=np.float32)
    if sample_rate != rate:
        mono = soxr.resample(mono, sample_rate, rate, quality="HQ")
    return np.asarray(mono, dtype=np.float32)


def _loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    if len(samples) <= LOUDNESS_BLOCK_SECONDS * sample_rate:
        return None
    # BS.1770 weights five channels at most; a wider layout is measured as its mixdown.
    data = samples if samples.shape[1] <= 5 else samples.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # silence: log10(0), thread-local
        lufs = float(pyloudnorm.Meter(sample_rate).integrated_loudness(data.astype(np.float64)))
    return lufs if np.isfinite(lufs) else None


def _beats(mono: np.ndarray) -> tuple[float | None, np.ndarray]:
    """(tempo in BPM, beat positions in frames of HOP_LENGTH)."""
    tempo, beats = librosa.beat.beat_track(y=mono, sr=ANALYSIS_RATE, hop_length=HOP_LENGTH)
    beats = np.asarray(beats, dtype=np.int64)
    if len(beats) < 2:
        return None, beats
    # librosa's tempo is quantised to whole frames of lag (120 BPM reads as 117.5 or 123.0);
    # the mean of the beat-to-beat intervals near their median is finer and ignores dropouts.
    intervals = np.diff(beats) * HOP_LENGTH / ANALYSIS_RATE
    median = float(np.median(intervals))
    steady = intervals[np.abs(intervals - median) <= 0.2 * median]
    estimate = 60.0 / float(np.mean(steady)) if len(steady) else float(np.atleast_1d(tempo)[0])
    return (estimate if estimate > 0 else None), beats


def _chroma(mono: np.ndarray) -> np.ndarray:
    """(12, frames of HOP_LENGTH) chroma energy, as librosa computes it in one go, but
    CHROMA_CHUNK_SECONDS at a time with one tuning (estimated on the middle chunk): librosa's
    tuning estimate holds several spectrogram-sized arrays, 600 MB for three minutes at once."""
    frames = 1 + len(mono) // HOP_LENGTH
    if not mono.any():
        return np.zeros((12, frames))
    per_chunk = round(CHROMA_CHUNK_SECONDS * ANALYSIS_RATE / HOP_LENGTH)
    middle = mono[max(0, (len(mono) - per_chunk * HOP_LENGTH) // 2) :][: per_chunk * HOP_LENGTH]
    tuning = 0.0
    if middle.any():
        tuning = float(librosa.estimate_tuning(y=middle, sr=ANALYSIS_RATE, n_fft=CHROMA_N_FFT))
    # Frame j is centred on sample j * HOP_LENGTH of the zero-padded signal, as with
    # librosa's center=True: each chunk carries the half-window either side it needs.
    padded = np.pad(mono, CHROMA_N_FFT // 2)
    parts = []
    for first in range(0, frames, per_chunk):
        last = min(frames, first + per_chunk)
        piece = padded[first * HOP_LENGTH : (last - 1) * HOP_LENGTH + CHROMA_N_FFT]
        parts.append(
            librosa.feature.chroma_stft(
                y=piece,
                sr=ANALYSIS_RATE,
                n_fft=CHROMA_N_FFT,
                hop_length=HOP_LENGTH,
                center=False,
                tuning=tuning,
                norm=None,
            )
        )
    return np.concatenate(parts, axis=1)


def _frozen(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype=np.float64)
    values.setflags(write=False)
    return values
