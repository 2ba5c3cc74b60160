"""Separate an audio file into stem files, block by block: memory stays flat.

read (libsndfile) → to the model's channels and rate (soxr, streaming) → normalise as
`demucs.separate` does → `StreamingSeparator` → back to the input's rate and channels → one
writer per stem. Every stem has exactly the input's length, rate and channel count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from cadenza.audio import AudioDecodeError, AudioWriter, decode_reason, header_info, read_blocks
from cadenza.contracts.audio_format import OutputFormat
from cadenza.separation.streaming import StreamingSeparator

BLOCK_FRAMES = 1 << 16
MAX_INPUT_CHANNELS = 2


class SeparationInputError(ValueError):
    """The input cannot be separated; the message says why."""


@dataclass(frozen=True)
class Plan:
    """How to run one model over one file."""

    sources: tuple[str, ...]
    # None: the model works at the input's rate (the classical method).
    samplerate: int | None
    audio_channels: int
    # demucs.separate normalises the mix by its mean and deviation; so do we.
    normalise: bool
    # (the model's rate, whether the job was stopped) → a stream for one file.
    make_stream: Callable[[int, Callable[[], bool]], StreamingSeparator]


@dataclass(frozen=True)
class Result:
    frames: int
    sample_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _no_progress(_: float) -> None:
    return None


def _never() -> bool:
    return False


def _mix_statistics(source: Path) -> tuple[float, float]:
    """Mean and standard deviation of the mono mix, in one streaming pass."""
    count, total, squares = 0, 0.0, 0.0
    for block in read_blocks(source, BLOCK_FRAMES):
        mono = block.mean(axis=0, dtype=np.float64)
        count += mono.size
        total += float(mono.sum())
        squares += float(np.square(mono).sum())
    if count == 0:
        return 0.0, 1.0
    mean = total / count
    std = math.sqrt(max(squares / count - mean * mean, 0.0))
    return mean, std if std > 1e-8 else 1.0


class _Resampler:
    """soxr's streaming resampler, or nothing when the rates match. Blocks are [ch, n]."""

    def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
        self._stream = (
            soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32", quality="HQ")
            if rate_in != rate_out
            else None
        )

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return block
        out = self._stream.resample_chunk(np.ascontiguousarray(block.T), last=last)
        return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, block.shape[0]).T)


class _StemWriters:
    """Turns model output into stems at the input's rate and channels, and writes them."""

    def __init__(
        self,
        outputs: Mapping[str, Path],
        plan: Plan,
        output: OutputFormat,
        rate_in: int,
        channels_in: int,
        model_rate: int,
        frames: int,
        mean: float,
        std: float,
    ) -> None:
        self.indices = {name: plan.sources.index(name) for name in outputs}
        self.model_channels = plan.audio_channels
        self.channels_in = channels_in
        self.frames = frames
        self.mean, self.std = mean, std
        self.clip = output.format != "wav" or output.bit_depth != 32
        self.resample = _Resampler(model_rate, rate_in, len(self.indices) * self.model_channels)
        self.writers = {
            name: AudioWriter(path, output, rate_in, channels_in) for name, path in outputs.items()
        }
        self.written = 0

    def add(self, stems: torch.Tensor, last: bool = False) -> None:
        """`stems` is [sources, model channels, n] at the model's rate."""
        chosen = stems[list(self.indices.values())] * self.std + self.mean
        rows = len(self.indices) * self.model_channels
        flat = chosen.reshape(rows, chosen.shape[-1]).numpy().astype(np.float32)
        resampled = self.resample(flat, last=last)
        count = min(resampled.shape[-1], self.frames - self.written)
        if count <= 0:
            return
        per_stem = resampled[:, :count].reshape(len(self.indices), self.model_channels, count)
        if not np.isfinite(per_stem).all():
            raise SeparationInputError("the model produced invalid samples (NaN or infinite)")
        for position, name in enumerate(self.indices):
            audio = per_stem[position]
            if self.channels_in == 1 and self.model_channels == 2:
                audio = audio.mean(axis=0, keepdims=True)
            if self.clip:
                audio = np.clip(audio, -1.0, 1.0)
            self.writers[name].write(np.ascontiguousarray(audio, dtype=np.float32))
        self.written += count

    def close(self, complete: bool) -> None:
        missing = self.frames - self.written
        if complete and missing > 0:  # resampling rounded the end down by a frame or two
            silence = np.zeros((self.channels_in, missing), dtype=np.float32)
            for writer in self.writers.values():
                writer.write(silence)
            self.written = self.frames
        for writer in self.writers.values():
            writer.close()


def separate_file(
    source: Path,
    outputs: Mapping[str, Path],
    plan: Plan,
    output: OutputFormat,
    *,
    on_progress: Callable[[float], None] = _no_progress,
    stopped: Callable[[], bool] = _never,
) -> Result:
    """Write each stem named in `outputs` to its path; returns what was written. When
    `stopped` says so, a forward pass in progress ends between two layers of the model
    (SegmentCancelledError)."""
    rate_in, channels_in, frames = header_info(source)
    if channels_in > MAX_INPUT_CHANNELS:
        raise SeparationInputError(
            f"separation takes mono or stereo audio; this file has {channels_in} channels"
        )
    if problem := output.sample_rate_problem(rate_in, channels_in):
        raise SeparationInputError(problem)
    unknown = sorted(set(outputs) - set(plan.sources))
    if unknown:
        raise SeparationInputError(
            f"this model has no {', '.join(unknown)} stem (it has {', '.join(plan.sources)})"
        )
    model_rate = plan.samplerate or rate_in
    mean, std = _mix_statistics(source) if plan.normalise else (0.0, 1.0)
    stream = plan.make_stream(model_rate, stopped)
    to_model = _Resampler(rate_in, model_rate, plan.audio_channels)
    expected = max(1, round(frames * model_rate / rate_in))
    stems = _StemWriters(outputs, plan, output, rate_in, channels_in, model_rate, frames, mean, std)
    complete = False
    try:
        for block in read_blocks(source, BLOCK_FRAMES):
            if channels_in == 1 and plan.audio_channels == 2:
                block = np.repeat(block, 2, axis=0)
            block = to_model(block)
            stream.push(torch.from_numpy((block - mean) / std))
            stems.add(stream.drain())
            on_progress(min(stream.emitted / expected, 0.99))
        tail = to_model(np.zeros((plan.audio_channels, 0), dtype=np.float32), last=True)
        if tail.shape[-1]:
            stream.push(torch.from_numpy((tail - mean) / std))
        stream.end()
        while not stream.done:
            stems.add(stream.drain(wait=True))
            on_progress(min(stream.emitted / expected, 0.99))
        stems.add(torch.zeros(len(plan.sources), plan.audio_channels, 0), last=True)
        complete = True
    except (sf.LibsndfileError, RuntimeError) as e:
        if isinstance(e, sf.LibsndfileError) or "libsndfile" in str(e).lower():
            raise AudioDecodeError(f"the input audio is damaged: {decode_reason(e)}") from e
        raise
    finally:
        stems.close(complete)
    on_progress(1.0)
    return Result(frames, rate_in, channels_in)
