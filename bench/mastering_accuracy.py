"""Mastering accuracy and speed on 10 kinds of material: rendered MIDI (a band, 1 and
5 minutes; drums alone), pink and white noise, a sine pad, a quiet solo piano, a loud clipped
one, a mono file and a 48 kHz file. Streaming preset (−14 LUFS, −1 dBTP) for all, EBU
R128 broadcast (−23 LUFS) once more on the band, and MP3 output once to show the codec.
The output is measured here independently: pyloudnorm for loudness, scipy's 4×
resample_poly for true peak, on the decoded file. The drums and the quiet solo piano have
crest factors that make the true-peak limiter work. Target: |error| ≤ 0.1 LU, true peak
≤ ceiling + 0.05 dB.

    .venv/bin/python -m bench.mastering_accuracy
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import scipy.signal
import soundfile as sf

from bench.common import save
from cadenza.contracts.audio_format import OutputFormat
from cadenza.render.engine import PRESETS, master, render_midi
from cadenza.render.engine.demo_midi import write_demo_midi

RATE = 44100


def measure(path: Path) -> tuple[float, float]:
    """(LUFS, dBTP) of a decoded file, by the reference implementations."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(data)
    peak = max(
        float(np.abs(scipy.signal.resample_poly(data[:, c], 4, 1)).max())
        for c in range(data.shape[1])
    )
    return float(lufs), 20 * float(np.log10(peak))


def _write(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    sf.write(str(path), audio.T if audio.ndim == 2 else audio, rate, subtype="FLOAT")
    return path


def _read(path: Path) -> np.ndarray:
    data: np.ndarray = sf.read(str(path), dtype="float32", always_2d=True)[0]
    return data.T


def _render(root: Path, name: str, seconds: float, *, rate: int = RATE, **kw: Any) -> Path:
    midi = write_demo_midi(root / f"{name}.mid", seconds, **kw)
    return render_midi(midi, root / name, sample_rate=rate, stems=False).mix


def make_inputs(root: Path) -> dict[str, Path]:
    rng = np.random.default_rng(11)
    t = np.arange(60 * RATE) / RATE
    band = _render(root, "band_1min", 60.0)
    band_audio = _read(band)
    spectrum = np.fft.rfft(rng.standard_normal((2, t.size)))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.shape[-1]), 1))
    pink = np.fft.irfft(spectrum, n=t.size)
    white = rng.standard_normal((2, t.size))
    pad = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    pad = pad * (0.6 + 0.4 * np.sin(2 * np.pi * 0.2 * t))
    small_band = write_demo_midi(root / "small.mid", 60.0, full=False, seed=3)
    small_stems = render_midi(small_band, root / "small", stems=True).stems
    drums, piano = small_stems["Drums"], _read(small_stems["Piano"])
    builders: dict[str, Callable[[], Path]] = {
        "band_1min": lambda: band,
        "band_5min": lambda: _render(root, "band_5min", 300.0, seed=1),
        "drums_only": lambda: drums,
        "pink_noise": lambda: _write(
            root / "pink.wav", pink / np.abs(pink).max() * 10 ** (-30 / 20)
        ),
        "white_noise": lambda: _write(root / "white.wav", white / np.abs(white).max() * 0.03),
        "sine_pad": lambda: _write(root / "pad.wav", np.stack([pad, pad])),
        "quiet_piano": lambda: _write(root / "quiet.wav", piano * 10 ** (-20 / 20)),
        "loud_clipped": lambda: _write(root / "loud.wav", np.clip(band_audio * 30, -1, 1)),
        "mono": lambda: _write(root / "mono.wav", band_audio.mean(axis=0)),
        "48k": lambda: _render(root, "band_48k", 60.0, rate=48000, seed=2),
    }
    return {name: build() for name, build in builders.items()}


def run(source: Path, dest: Path, preset: str, output: OutputFormat) -> dict[str, Any]:
    target, ceiling = PRESETS[preset]
    started = time.perf_counter()
    result = master(source, dest, target_lufs=target, true_peak_db=ceiling, output=output)
    seconds = time.perf_counter() - started
    lufs, peak = measure(dest)
    return {
        "preset": preset,
        "format": output.format,
        "minutes": round(result.duration_s / 60, 2),
        "input_lufs": round(result.input_lufs, 2),
        "lufs": round(lufs, 3),
        "error_lu": round(abs(lufs - target), 3),
        "true_peak_db": round(peak, 3),
        "over_ceiling_db": round(max(peak - ceiling, 0.0), 3),
        "engine_reported_lufs": round(result.lufs, 3),
        "passes": result.passes,
        "writes": result.writes,
        "codec_overshoot_db": round(result.codec_overshoot_db, 3),
        "seconds": round(seconds, 2),
        "seconds_per_minute": round(seconds / (result.duration_s / 60), 2),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        inputs = make_inputs(root)
        wav = OutputFormat()
        results: dict[str, dict[str, Any]] = {}
        for name, path in inputs.items():
            results[name] = run(path, root / f"{name}-master.wav", "streaming", wav)
            print(name, results[name], flush=True)
        runs = [
            ("band_1min@broadcast", inputs["band_1min"], "broadcast", wav),
            ("band_1min@mp3", inputs["band_1min"], "streaming", OutputFormat(format="mp3")),
        ]
        for label, path, preset, output in runs:
            results[label] = run(path, root / f"{label}.{output.extension}", preset, output)
            print(label, results[label], flush=True)
    pcm = {k: v for k, v in results.items() if v["format"] == "wav"}
    total_minutes = sum(v["minutes"] for v in pcm.values())
    save(
        "mastering_accuracy",
        {
            "max_error_lu": max(v["error_lu"] for v in results.values()),
            "max_over_ceiling_db": max(v["over_ceiling_db"] for v in results.values()),
            "wav_seconds_per_minute": round(
                sum(v["seconds"] for v in pcm.values()) / total_minutes, 2
            ),
            "targets": {"max_error_lu": 0.1, "max_over_ceiling_db": 0.05},
            "inputs": results,
        },
    )


if __name__ == "__main__":
    main()
