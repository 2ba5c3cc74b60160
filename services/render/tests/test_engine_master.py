"""Mastering lands on the loudness target under the true-peak ceiling, measured here
independently (pyloudnorm, scipy's 4× resampler) on the decoded output, for varied
material and every preset; silent, too quiet and out-of-range requests are refused."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf

from cadenza.contracts.audio_format import OutputFormat
from cadenza.render.engine import PRESETS, MasterError, RenderResult, master

RATE = 44100


def independent(path: Path) -> tuple[float, float]:
    """(LUFS by pyloudnorm, dBTP by 4× resample_poly) of a decoded file."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(data)
    peak = np.abs(scipy.signal.resample_poly(data, 4, 1, axis=0)).max()
    return float(lufs), float(20 * np.log10(peak))


def write(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    sf.write(str(path), audio.T if audio.ndim == 2 else audio, rate, subtype="FLOAT")
    return path


def _white(rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal((2, 8 * RATE))
    white: np.ndarray = noise / np.abs(noise).max() * 10 ** (-30 / 20)  # peaks at −30 dBFS
    return white


def _pink(rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal((2, 8 * RATE)))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.shape[-1]), 1))
    pink = np.fft.irfft(spectrum, n=8 * RATE)
    scaled: np.ndarray = pink / np.abs(pink).max() * 10 ** (-30 / 20)  # peaks at −30 dBFS
    return scaled


def _sine(_: np.random.Generator) -> np.ndarray:
    t = np.arange(8 * RATE) / RATE
    return np.stack([0.25 * np.sin(2 * np.pi * 440 * t)] * 2)


def _clipped(rng: np.random.Generator) -> np.ndarray:
    """A loud, hard-clipped signal: square-ish bass under clipped noise bursts."""
    t = np.arange(8 * RATE) / RATE
    loud = 3 * np.sin(2 * np.pi * 55 * t) + 2 * rng.standard_normal(t.size) * (t % 1 < 0.2)
    return np.clip(np.stack([loud, loud * 0.9]), -1.0, 1.0)


def _drums(_: np.random.Generator) -> np.ndarray:
    """Sparse clicks with a fast decay: a crest factor no limiter-free gain could meet."""
    out = np.zeros((2, 8 * RATE))
    t = np.arange(4410) / RATE
    hit = np.sin(2 * np.pi * 60 * t) * np.exp(-t * 40)
    for start in range(0, out.shape[1] - hit.size, RATE // 2):
        out[:, start : start + hit.size] += 0.5 * hit
    return out


SIGNALS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "white": _white,
    "pink": _pink,
    "sine": _sine,
    "clipped": _clipped,
    "drums": _drums,
}


@pytest.fixture(scope="module")
def inputs(rendered: RenderResult, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("master-in")
    rng = np.random.default_rng(7)
    files = {name: write(folder / f"{name}.wav", make(rng)) for name, make in SIGNALS.items()}
    t = np.arange(8 * 48000) / 48000
    swell = 0.2 * np.sin(2 * np.pi * 330 * t) * (1.2 + np.sin(2 * np.pi * 0.25 * t))
    files["mono"] = write(folder / "mono.wav", swell[: 8 * RATE])
    files["48k"] = write(folder / "48k.wav", np.stack([swell, swell * 0.7]), 48000)
    files["render"] = rendered.mix
    return files


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize(
    "name", ["render", "white", "pink", "sine", "clipped", "drums", "mono", "48k"]
)
def test_lands_on_the_target_under_the_ceiling(
    inputs: dict[str, Path], name: str, preset: str, tmp_path: Path
) -> None:
    target, ceiling = PRESETS[preset]
    out = tmp_path / "mastered.wav"
    result = master(inputs[name], out, target_lufs=target, true_peak_db=ceiling)
    lufs, peak = independent(out)
    print(f"{name:8s} {preset:9s} {lufs:7.3f} LUFS ({lufs - target:+.3f}) {peak:6.2f} dBTP")
    assert abs(lufs - target) <= 0.5
    assert peak <= ceiling + 0.05
    # What the engine reports is what was written, and what came in ("before").
    assert result.lufs == pytest.approx(lufs, abs=0.01)
    assert result.true_peak_db == pytest.approx(peak, abs=0.01)
    before_lufs, before_peak = independent(inputs[name])
    assert result.input_lufs == pytest.approx(before_lufs, abs=0.01)
    assert result.input_true_peak_db == pytest.approx(before_peak, abs=0.05)
    info = sf.info(str(out))
    assert info.channels == 2 and info.samplerate == sf.info(str(inputs[name])).samplerate
    assert info.frames == sf.info(str(inputs[name])).frames


@pytest.mark.parametrize(
    "output",
    [
        OutputFormat(format="mp3"),
        OutputFormat(format="ogg"),
        OutputFormat(bit_depth=16),
        OutputFormat(format="flac", bit_depth=16),
    ],
    ids=["mp3", "ogg", "wav16", "flac16"],
)
def test_other_formats_are_measured_as_encoded(
    inputs: dict[str, Path], output: OutputFormat, tmp_path: Path
) -> None:
    out = tmp_path / f"mastered.{output.extension}"
    result = master(inputs["render"], out, target_lufs=-14.0, true_peak_db=-1.0, output=output)
    lufs, peak = independent(out)
    overshoot = result.codec_overshoot_db
    print(f"{out.name}: {lufs:.3f} LUFS, {peak:.2f} dBTP, codec overshoot {overshoot:+.2f} dB")
    assert abs(lufs + 14.0) <= 0.5 and peak <= -1.0 + 0.05
    assert result.lufs == pytest.approx(lufs, abs=0.01)


def test_without_eq_and_compression_a_quiet_signal_only_gets_gain(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "gain.wav"
    result = master(
        inputs["sine"],
        out,
        target_lufs=-23.0,
        true_peak_db=-1.0,
        eq=False,
        compress=False,
        output=OutputFormat(format="wav", bit_depth=32),
    )
    before, _ = sf.read(str(inputs["sine"]))
    after, _ = sf.read(str(out))
    ratio = after[before != 0] / before[before != 0]
    assert np.allclose(ratio, 10 ** (result.gain_db / 20), rtol=1e-5)
    assert result.passes == 1  # the limiter had nothing to do: gain computed, then written


def test_memory_stays_flat_in_the_length_of_the_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    seconds = 180
    noise = rng.standard_normal((2, seconds * RATE)).astype(np.float32) * 0.05
    source = write(tmp_path / "long.wav", noise)
    whole = noise.nbytes
    del noise
    tracemalloc.start()
    try:
        master(source, tmp_path / "out.wav", target_lufs=-14.0, true_peak_db=-1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"peak traced memory {peak / 2**20:.1f} MiB; the input alone is {whole / 2**20:.1f}")
    assert peak < whole / 2


def test_refusals_say_why(tmp_path: Path) -> None:
    silent = write(tmp_path / "silent.wav", np.zeros((2, RATE)))
    with pytest.raises(MasterError, match="digital silence"):
        master(silent, tmp_path / "o.wav", target_lufs=-14, true_peak_db=-1)
    rng = np.random.default_rng(0)
    whisper = write(tmp_path / "whisper.wav", rng.standard_normal((2, RATE)) * 10 ** (-85 / 20))
    with pytest.raises(MasterError, match="too quiet"):
        master(whisper, tmp_path / "o.wav", target_lufs=-14, true_peak_db=-1)
    noise = write(tmp_path / "noise.wav", rng.standard_normal((2, RATE)) * 0.1)
    with pytest.raises(MasterError, match=r"target loudness must be -36\.\.-6 LUFS"):
        master(noise, tmp_path / "o.wav", target_lufs=-3, true_peak_db=-1)
    with pytest.raises(MasterError, match=r"true-peak ceiling must be -9\.\.0 dBTP"):
        master(noise, tmp_path / "o.wav", target_lufs=-14, true_peak_db=0.5)
    short = write(tmp_path / "short.wav", rng.standard_normal((2, RATE // 10)) * 0.1)
    with pytest.raises(MasterError, match=r"at least 0\.4 s"):
        master(short, tmp_path / "o.wav", target_lufs=-14, true_peak_db=-1)
    quad = write(tmp_path / "quad.wav", rng.standard_normal((4, RATE)) * 0.1)
    with pytest.raises(MasterError, match="not 4 channels"):
        master(quad, tmp_path / "o.wav", target_lufs=-14, true_peak_db=-1)
    assert not (tmp_path / "o.wav").exists()
