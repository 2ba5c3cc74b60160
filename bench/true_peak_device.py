"""True-peak oversampling (mastering's heaviest step) per backend: scipy on the CPU (the
baseline), the same filter in torch on the CPU, and on CUDA when a GPU is present. Each
backend measures 3 minutes of 44.1 kHz stereo in the chunks mastering uses, three times;
the best time counts. Then one whole master of the same audio per backend, to show the
step's share of it.

    .venv/bin/python -m bench.true_peak_device
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from bench.common import save
from cadenza.render.engine import master
from cadenza.render.engine.loudness import true_peak_envelope
from cadenza.render.engine.oversample import CPU, Oversampler, TorchOversampler

RATE = 44100
SECONDS = 180


def program() -> np.ndarray:
    rng = np.random.default_rng(4)
    t = np.arange(SECONDS * RATE) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    noise = 0.05 * rng.standard_normal(t.size)
    return np.stack([tone + noise, 0.9 * tone + noise]).astype(np.float32)


def best_of(runs: int, work: Any) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    audio = program()
    backends: dict[str, Oversampler] = {"scipy-cpu": CPU, "torch-cpu": TorchOversampler("cpu")}
    if torch.cuda.is_available():
        backends["torch-cuda"] = TorchOversampler("cuda")
        backends["torch-cuda"].envelope(audio[:, :RATE])  # warm-up: kernels, allocator
    reference = true_peak_envelope(audio, CPU)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.wav"
        sf.write(str(source), audio.T, RATE, subtype="FLOAT")
        for name, oversampler in backends.items():
            envelope_s = best_of(3, lambda o=oversampler: true_peak_envelope(audio, o))
            error = float(np.abs(true_peak_envelope(audio, oversampler) - reference).max())
            master_s = best_of(
                1,
                lambda o=oversampler: master(
                    source,
                    Path(tmp) / "out.wav",
                    target_lufs=-14.0,
                    true_peak_db=-1.0,
                    oversampler=o,
                ),
            )
            figures[name] = {
                "envelope_s": round(envelope_s, 3),
                "max_abs_error_vs_scipy": error,
                "master_s": round(master_s, 2),
            }
            print(f"{name:11s} envelope {envelope_s:6.3f} s   master {master_s:5.2f} s", flush=True)
    base = figures["scipy-cpu"]["envelope_s"]
    for name in figures:
        figures[name]["envelope_speedup_vs_scipy"] = round(base / figures[name]["envelope_s"], 2)
    save("true_peak_device", {"audio_seconds": SECONDS, "sample_rate": RATE, **figures})


if __name__ == "__main__":
    main()
