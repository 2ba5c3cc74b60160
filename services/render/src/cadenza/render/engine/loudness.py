"""Loudness and true peak, measured chunk by chunk so that any length fits in flat memory.

Integrated loudness is ITU-R BS.1770-4 as pyloudnorm computes it: pyloudnorm's
K-weighting filters, its 400 ms blocks with 75 % overlap and its block boundaries,
the −70 LUFS absolute and −10 LU relative gates. Only the arithmetic differs: the
filters run as one second-order-section cascade with state carried across chunks, and
block energies come from per-segment sums instead of a Python loop per block; the tests
hold the two within 0.001 LU. `precise=False` filters in float32 up to 48 kHz, 7× faster
and within 0.01 LU even for a 20 Hz sine (the 38 Hz high-pass's poles sit close to the
unit circle, so higher rates always get float64); reported figures use `precise=True`.

True peak is the peak of the signal 4× oversampled (scipy's polyphase resampler, or the
same filter on a GPU: oversample.py), per BS.1770-4 Annex 2, computed on chunks with
enough context that the result equals oversampling the whole signal at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyloudnorm
import scipy.signal
import soundfile as sf

from cadenza.audio import read_blocks
from cadenza.render.engine.oversample import CPU, Oversampler

BLOCK_S = 0.4
STEP = 0.25  # 75 % overlap
ABSOLUTE_GATE_LUFS = -70.0
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs
# Input samples either side that 4× resample_poly's filter reaches (its half-length is
# 10 input samples); chunks carry this much context.
TP_CONTEXT = 16
CHUNK_FRAMES = 1 << 18
FLOAT32_FILTER_MAX_RATE = 48000


def db(linear: float) -> float:
    return 20 * math.log10(linear) if linear > 0 else -math.inf


class LoudnessMeter:
    """Feed (channels, n) chunks in order with `add`; `lufs()` at any point."""

    def __init__(self, sample_rate: int, channels: int, *, precise: bool = True) -> None:
        if channels > len(CHANNEL_WEIGHTS):
            raise ValueError(f"BS.1770 loudness is defined for up to 5 channels, not {channels}")
        self.rate = sample_rate
        self.channels = channels
        shelf = pyloudnorm.IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sample_rate, "high_shelf")
        high_pass = pyloudnorm.IIRfilter(0.0, 0.5, 38.0, sample_rate, "high_pass")
        self._power_gain = (shelf.passband_gain * high_pass.passband_gain) ** 2
        sos = [np.concatenate([f.b, f.a]) / f.a[0] for f in (shelf, high_pass)]
        fast = not precise and sample_rate <= FLOAT32_FILTER_MAX_RATE
        self._dtype = np.float32 if fast else np.float64
        self._sos = np.array(sos, dtype=self._dtype)
        self._zi = np.zeros((2, channels, 2), dtype=self._dtype)
        self.frames = 0
        # Energy (sum of squares of the weighted signal) from sample 0 up to each block
        # edge passed so far, and the edges still ahead.
        self._total = np.zeros(channels, dtype=np.float64)
        self._energy_at: dict[int, np.ndarray] = {0: self._total}
        self._ahead: list[int] = []
        self._next_block = 0

    def _lower(self, j: int) -> int:
        return int(BLOCK_S * (j * STEP) * self.rate)  # pyloudnorm's arithmetic, to the bit

    def _upper(self, j: int) -> int:
        return int(BLOCK_S * (j * STEP + 1) * self.rate)

    def add(self, chunk: np.ndarray) -> None:
        n = chunk.shape[-1]
        if n == 0:
            return
        weighted, self._zi = scipy.signal.sosfilt(
            self._sos, np.asarray(chunk, dtype=self._dtype), axis=-1, zi=self._zi
        )
        start, end = self.frames, self.frames + n
        while self._lower(self._next_block) <= end:
            self._ahead += [self._lower(self._next_block), self._upper(self._next_block)]
            self._next_block += 1
        self._ahead = sorted(set(self._ahead))
        reached = [e for e in self._ahead if start < e <= end]
        self._ahead = [e for e in self._ahead if e > end]
        inner = [e - start for e in reached if e < end]
        # Sums of squares between consecutive edges; running totals at each edge.
        bounds = np.array([0, *inner], dtype=np.int64)
        squares = np.square(weighted)
        sums = np.add.reduceat(squares, bounds, axis=-1, dtype=np.float64)
        running = self._total[:, None] + np.cumsum(sums, axis=-1)
        for index, edge in enumerate(e for e in reached if e < end):
            self._energy_at[edge] = running[:, index]
        self._total = running[:, -1]
        if reached and reached[-1] == end:
            self._energy_at[end] = self._total
        self.frames = end

    def _energy(self, sample: int) -> np.ndarray:
        return self._total if sample >= self.frames else self._energy_at[sample]

    def lufs(self) -> float:
        """Integrated loudness of everything added so far; −inf if below the gates."""
        total_s = self.frames / self.rate
        blocks = int(np.round((total_s - BLOCK_S) / (BLOCK_S * STEP))) + 1
        if blocks <= 0:
            return -math.inf
        low = np.array([self._energy(self._lower(j)) for j in range(blocks)])
        high = np.array([self._energy(self._upper(j)) for j in range(blocks)])
        z = (high - low) * self._power_gain / (BLOCK_S * self.rate)  # (blocks, channels)
        weights = np.array(CHANNEL_WEIGHTS[: self.channels])
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10 * np.log10(z @ weights)
            gated = block_lufs >= ABSOLUTE_GATE_LUFS
            if not gated.any():
                return -math.inf
            relative = -0.691 + 10 * np.log10(z[gated].mean(axis=0) @ weights) - 10
            gated = (block_lufs > relative) & (block_lufs > ABSOLUTE_GATE_LUFS)
            if not gated.any():
                return -math.inf
            return float(-0.691 + 10 * np.log10(z[gated].mean(axis=0) @ weights))


def true_peak_envelope(audio: np.ndarray, oversampler: Oversampler = CPU) -> np.ndarray:
    """Per input sample n, the largest |value| of the 4× oversampled signal from n up to
    n+1, over all channels: shape (frames,), float32. The whole array, in chunks."""
    frames = audio.shape[-1]
    out = np.empty(frames, dtype=np.float32)
    for start in range(0, frames, CHUNK_FRAMES):
        end = min(start + CHUNK_FRAMES, frames)
        out[start:end] = envelope_with_context(audio, start, end, oversampler)
    return out


def envelope_with_context(
    audio: np.ndarray, start: int, end: int, oversampler: Oversampler = CPU
) -> np.ndarray:
    """`true_peak_envelope(audio)[start:end]`, computed from that slice plus context."""
    lo, hi = max(start - TP_CONTEXT, 0), min(end + TP_CONTEXT, audio.shape[-1])
    envelope = oversampler.envelope(np.asarray(audio[:, lo:hi], np.float32))
    result: np.ndarray = envelope[start - lo : end - lo]
    return result


def measure_file(path: Path, oversampler: Oversampler = CPU) -> tuple[float, float, int, int]:
    """(integrated LUFS, true peak dBTP, sample rate, frames) of an audio file, decoded
    in overlapping blocks: flat memory whatever its length."""
    info = sf.info(str(path))
    rate, channels = int(info.samplerate), int(info.channels)
    meter = LoudnessMeter(rate, channels)
    peak = 0.0
    overlap = 2 * TP_CONTEXT
    first = True
    for block in _blocks_with_end(read_blocks(path, CHUNK_FRAMES, overlap=overlap)):
        data, last = block
        meter.add(data if first else data[:, overlap:])
        env = oversampler.envelope(data)
        # Each block's edges lack context, except at the file's own start and end.
        lo = 0 if first else TP_CONTEXT
        hi = env.shape[0] if last else env.shape[0] - TP_CONTEXT
        if hi > lo:
            peak = max(peak, float(env[lo:hi].max()))
        first = False
    return meter.lufs(), db(peak), rate, meter.frames


def _blocks_with_end(blocks: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    previous: np.ndarray | None = None
    for block in blocks:
        if previous is not None:
            yield previous, False
        previous = block
    if previous is not None:
        yield previous, True
