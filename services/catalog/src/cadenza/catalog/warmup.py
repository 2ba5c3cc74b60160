"""`python -m cadenza.catalog.warmup`: compile librosa's numba functions once, at install.

librosa JIT-compiles with numba on first use (about 30 s on 2 cores) and caches the
machine code (`cache=True`) beside its sources, or in `NUMBA_CACHE_DIR`. Running one small
analysis here puts that cost in `make install` (and the image build), not in the first
song a worker analyses.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from cadenza.catalog.song_analysis import analyse_song


def main() -> None:
    started = time.perf_counter()
    rate = 22050
    t = np.arange(rate * 4) / rate
    clicks = (np.sin(2 * np.pi * 2 * t) > 0.99).astype(np.float64)
    audio = 0.3 * np.sin(2 * np.pi * 261.63 * t) + 0.5 * clicks
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warmup.wav"
        sf.write(str(path), audio, rate)
        analyse_song(None, path, max_midi_seconds=60, max_audio_seconds=60)
    print(f"librosa warmed up in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
