"""The chunked meters agree with the references they stand in for (pyloudnorm, scipy's
4× resampler on the whole signal), and the limiter holds its ceiling between samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf

from cadenza.render.engine.limiter import TruePeakLimiter
from cadenza.render.engine.loudness import (
    LoudnessMeter,
    measure_file,
    true_peak_envelope,
)


def program(rng: np.random.Generator, rate: int, seconds: float, channels: int) -> np.ndarray:
    """Noise with a swell, a near-silent stretch (so both gates matter) and a low tone."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    audio = rng.standard_normal((channels, n)) * np.linspace(0.01, 0.3, n)
    audio[:, n // 3 : n // 2] *= 0.001
    audio += 0.2 * np.sin(2 * np.pi * 45 * t)
    return audio.astype(np.float32)


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2])
def test_meter_matches_pyloudnorm_whatever_the_chunking(rate: int, channels: int) -> None:
    rng = np.random.default_rng(rate + channels)
    audio = program(rng, rate, 13.37, channels)
    reference = pyloudnorm.Meter(rate).integrated_loudness(audio.T)
    meter = LoudnessMeter(rate, channels)
    start = 0
    while start < audio.shape[1]:
        size = int(rng.integers(1, 50_000))
        meter.add(audio[:, start : start + size])
        start += size
    assert meter.lufs() == pytest.approx(reference, abs=0.001)
    fast = LoudnessMeter(rate, channels, precise=False)
    fast.add(audio)
    assert fast.lufs() == pytest.approx(reference, abs=0.01)


def test_file_measurement_matches_whole_signal_references(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    audio = program(rng, 44100, 20.0, 2)
    sf.write(str(tmp_path / "a.wav"), audio.T, 44100, subtype="FLOAT")
    lufs, peak_db, rate, frames = measure_file(tmp_path / "a.wav")
    whole = np.abs(scipy.signal.resample_poly(audio, 4, 1, axis=-1)).max()
    assert (rate, frames) == (44100, audio.shape[1])
    assert lufs == pytest.approx(pyloudnorm.Meter(44100).integrated_loudness(audio.T), abs=0.001)
    assert peak_db == pytest.approx(20 * np.log10(whole), abs=1e-4)
    envelope = true_peak_envelope(audio)
    assert float(envelope.max()) == pytest.approx(float(whole), rel=1e-6)


def test_limiter_keeps_every_oversampled_peak_under_the_ceiling() -> None:
    rng = np.random.default_rng(5)
    rate = 44100
    audio = (rng.standard_normal((2, 10 * rate)) * 0.15).astype(np.float32)
    for start in rng.integers(0, audio.shape[1] - 100, 10):  # sharp overs, about +5 dBTP
        audio[:, start : start + 30] *= rng.uniform(2, 6)
    envelope = true_peak_envelope(audio)
    ceiling = 10 ** (-1 / 20)
    limiter = TruePeakLimiter(rate, ceiling)
    chunk = 65536
    gains = []
    for start in range(0, audio.shape[1], chunk):
        end = min(start + chunk, audio.shape[1])
        lo, hi = max(start - limiter.context, 0), min(end + limiter.context, audio.shape[1])
        gains.append(limiter.gain(envelope[lo:hi], start - lo, end - start))
    limited = audio * np.concatenate(gains)
    peak = np.abs(scipy.signal.resample_poly(limited, 4, 1, axis=-1)).max()
    before, after = 20 * np.log10(envelope.max()), 20 * np.log10(peak)
    print(f"input true peak {before:+.2f} dBTP, limited {after:+.3f}")
    assert 20 * np.log10(peak) <= -1 + 0.05
    # It only turns down around the overs (and recovers): most of the signal keeps its level.
    assert np.mean(np.concatenate(gains) > 0.99) > 0.5
