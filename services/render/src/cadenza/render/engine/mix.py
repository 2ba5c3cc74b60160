"""Stems into one stereo mix, block by block, so memory stays flat whatever the length.

Per stem: a gain in dB and a pan in −1 (left) … +1 (right). A stereo stem's pan is a
balance control (the far side fades, the near side stays at unity); a mono stem is
placed with the constant-power law (−3 dB each side at the centre). Shorter stems are
padded with silence. Stems at another sample rate than the mix (the most common rate,
the highest on a tie) are resampled on the fly with soxr when it is installed, and
refused with a reason when it is not.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile as sf

from cadenza.audio import AudioWriter, header_info
from cadenza.contracts.audio_format import OutputFormat
from cadenza.render.engine.loudness import db

BLOCK_FRAMES = 1 << 16
GAIN_RANGE_DB = (-120.0, 24.0)


class MixError(ValueError):
    """The stems cannot be mixed as asked; the message says why, for a person."""


@dataclass(frozen=True)
class MixResult:
    path: Path
    duration_s: float
    sample_rate: int
    peak_db: float  # sample peak of the mix before encoding, dBFS
    clipped: bool  # the peak went over full scale and the format had to clip it
    channels: int = 2


def _soxr() -> ModuleType | None:
    """soxr if this worker has it (the separation service's dependency, not ours)."""
    try:
        return importlib.import_module("soxr")
    except ImportError:
        return None


def mix_stems(
    stems: dict[str, Path],
    out_path: Path,
    *,
    gains_db: dict[str, float] | None = None,
    pans: dict[str, float] | None = None,
    output: OutputFormat = OutputFormat(),  # noqa: B008 — frozen, so sharing it is safe
    on_progress: Callable[[float], None] | None = None,
    block_frames: int = BLOCK_FRAMES,
) -> MixResult:
    gains_db, pans = gains_db or {}, pans or {}
    _check_settings(stems, gains_db, pans)
    infos = {name: header_info(path) for name, path in stems.items()}
    for name, (_, channels, _) in infos.items():
        if channels > 2:
            raise MixError(f"stem {name!r} has {channels} channels; stems are mono or stereo")
    rate = _mix_rate([info[0] for info in infos.values()])
    if problem := output.sample_rate_problem(rate):
        raise MixError(problem)
    soxr = _soxr()
    if soxr is None and (other := sorted(n for n, i in infos.items() if i[0] != rate)):
        raise MixError(
            f"stems {', '.join(other)} are not at {rate} Hz like the rest; resample them "
            "first (this worker has no resampler installed)"
        )
    total = max(math.ceil(frames * rate / stem_rate) for stem_rate, _, frames in infos.values())
    clip = not (output.format == "wav" and output.bit_depth == 32)
    peak = 0.0
    with ExitStack() as stack:
        readers = [
            stack.enter_context(
                _StemReader(
                    path,
                    rate,
                    _matrix(infos[name][1], gains_db.get(name, 0.0), pans.get(name, 0.0)),
                    soxr,
                )
            )
            for name, path in stems.items()
        ]
        writer = stack.enter_context(AudioWriter(out_path, output, rate, 2))
        for start in range(0, total, block_frames):
            n = min(block_frames, total - start)
            mix = np.zeros((2, n), dtype=np.float32)
            for reader in readers:
                mix += reader.read(n)
            peak = max(peak, float(np.abs(mix).max(initial=0.0)))
            writer.write(np.clip(mix, -1.0, 1.0, out=mix) if clip else mix)
            if on_progress:
                on_progress((start + n) / total)
    return MixResult(out_path, total / rate, rate, db(peak), clip and peak > 1.0)


def _check_settings(
    stems: dict[str, Path], gains_db: dict[str, float], pans: dict[str, float]
) -> None:
    if not stems:
        raise MixError("there are no stems to mix")
    if unknown := sorted((set(gains_db) | set(pans)) - set(stems)):
        raise MixError(f"gains or pans name stems that are not in the mix: {', '.join(unknown)}")
    low, high = GAIN_RANGE_DB
    for name, gain in gains_db.items():
        if not low <= gain <= high:
            raise MixError(f"the gain of {name!r} must be {low:.0f}..{high:.0f} dB, not {gain}")
    for name, pan in pans.items():
        if not -1.0 <= pan <= 1.0:
            raise MixError(f"the pan of {name!r} must be −1 (left) … +1 (right), not {pan}")


def _mix_rate(rates: list[int]) -> int:
    counts = Counter(rates)
    return max(counts, key=lambda rate: (counts[rate], rate))


def _matrix(channels: int, gain_db: float, pan: float) -> np.ndarray:
    """(2, channels) float32: how the stem's channels feed the mix's left and right."""
    gain = 10 ** (gain_db / 20)
    if channels == 1:
        angle = (pan + 1) * math.pi / 4
        return np.array([[math.cos(angle)], [math.sin(angle)]], dtype=np.float32) * gain
    left, right = min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)
    return np.array([[left, 0.0], [0.0, right]], dtype=np.float32) * gain


class _StemReader:
    """A stem as exact-length (2, n) blocks at the mix's rate, silence after its end."""

    def __init__(self, path: Path, rate: int, matrix: np.ndarray, soxr: Any) -> None:
        self._file = sf.SoundFile(str(path))
        self._matrix = matrix
        self._resampler = None
        if self._file.samplerate != rate:
            self._resampler = soxr.ResampleStream(
                self._file.samplerate, rate, self._file.channels, dtype="float32"
            )
        self._pending = np.zeros((0, self._file.channels), dtype=np.float32)
        self._ended = False

    def read(self, frames: int) -> np.ndarray:
        while len(self._pending) < frames and not self._ended:
            block = self._file.read(max(frames, 4096), dtype="float32", always_2d=True)
            self._ended = len(block) == 0
            if self._resampler is not None:
                block = self._resampler.resample_chunk(block, last=self._ended)
            self._pending = np.concatenate([self._pending, block])
        taken, self._pending = self._pending[:frames], self._pending[frames:]
        if len(taken) < frames:
            taken = np.concatenate(
                [taken, np.zeros((frames - len(taken), taken.shape[1]), taken.dtype)]
            )
        mixed: np.ndarray = self._matrix @ taken.T
        return mixed

    def __enter__(self) -> _StemReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()
