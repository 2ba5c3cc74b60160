"""Separate an audio file into stem files, block by block: memory stays flat.

read (libsndfile) → to the model's channels and rate (soxr, streaming) → normalise as
`demucs.separate` does (Demucs) → the model's stream (`StreamingSeparator`, `ChunkStream`)
→ back to the input's rate and channels → one writer per stem. Every stem has exactly the
input's length, rate and channel count. An ensemble runs several models so, side by side.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf
import soxr
import torch

from cadenza.audio import AudioDecodeError, AudioWriter, decode_reason, header_info, read_blocks
from cadenza.contracts.audio_format import OutputFormat

BLOCK_FRAMES = 1 << 16
MAX_INPUT_CHANNELS = 2


class SeparationInputError(ValueError):
    """The input cannot be separated; the message says why."""


class SeparationStream(Protocol):
    """Audio at the model's rate in, stems out (`StreamingSeparator`, `ChunkStream`)."""

    @property
    def done(self) -> bool: ...

    @property
    def emitted(self) -> int: ...

    def push(self, block: torch.Tensor) -> None: ...

    def end(self) -> None: ...

    def drain(self, wait: bool = False) -> torch.Tensor: ...


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
    make_stream: Callable[[int, Callable[[], bool]], SeparationStream]


@dataclass(frozen=True)
class Ensemble:
    """Several plans run on the same mix; each stem is the weighted mean of the members'
    stems of that name (a member's weights: stem → weight, 1 when not given)."""

    members: tuple[tuple[Plan, Mapping[str, float]], ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for plan, _ in self.members for s in plan.sources))


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


class _Member:
    """One model's pass over the file: the mix to its rate and channels, its stream, and
    its stems back at the input's rate and channels (not yet clipped or written)."""

    def __init__(
        self,
        plan: Plan,
        stems: list[str],
        rate_in: int,
        channels_in: int,
        stopped: Callable[[], bool],
        statistics: Callable[[], tuple[float, float]],
        frames: int,
    ) -> None:
        self.plan = plan
        self.stems = stems
        self.indices = [plan.sources.index(name) for name in stems]
        self.channels_in = channels_in
        self.rate = plan.samplerate or rate_in
        self.mean, self.std = statistics() if plan.normalise else (0.0, 1.0)
        self.stream = plan.make_stream(self.rate, stopped)
        self.expected = max(1, round(frames * self.rate / rate_in))
        self.back = _Resampler(self.rate, rate_in, len(stems) * plan.audio_channels)
        self.ready = np.zeros((len(stems), channels_in, 0), dtype=np.float32)

    @property
    def input_key(self) -> tuple[int, int]:
        """Members that take the mix at the same rate and channels share its resampling."""
        return self.rate, self.plan.audio_channels

    @property
    def progress(self) -> float:
        return self.stream.emitted / self.expected

    def push(self, block: np.ndarray) -> None:
        self.stream.push(torch.from_numpy((block - self.mean) / self.std))

    def take(self, stems: torch.Tensor, last: bool = False) -> None:
        """`stems` is [sources, model channels, n] at the model's rate."""
        channels = self.plan.audio_channels
        chosen = stems[self.indices] * self.std + self.mean
        flat = chosen.reshape(len(self.indices) * channels, chosen.shape[-1])
        resampled = self.back(flat.numpy().astype(np.float32), last=last)
        per_stem = resampled.reshape(len(self.indices), channels, -1)
        if self.channels_in == 1 and channels == 2:
            per_stem = per_stem.mean(axis=1, keepdims=True)
        self.ready = np.concatenate([self.ready, per_stem.astype(np.float32)], axis=-1)


class _StemWriters:
    """Combines the members' stems (their weighted mean), clips, and writes them."""

    def __init__(
        self,
        outputs: Mapping[str, Path],
        members: list[tuple[_Member, Mapping[str, float]]],
        output: OutputFormat,
        rate_in: int,
        channels_in: int,
        frames: int,
    ) -> None:
        self.members = members
        self.channels_in = channels_in
        self.frames = frames
        self.clip = output.format != "wav" or output.bit_depth != 32
        self.writers = {
            name: AudioWriter(path, output, rate_in, channels_in) for name, path in outputs.items()
        }
        self.written = 0

    def flush(self) -> None:
        """Write every frame all members have produced."""
        count = min(
            min(member.ready.shape[-1] for member, _ in self.members),
            self.frames - self.written,
        )
        if count <= 0:
            return
        for name, writer in self.writers.items():
            total = np.zeros((self.channels_in, count), dtype=np.float32)
            weights = 0.0
            for member, weight_of in self.members:
                if name in member.stems:
                    weight = weight_of.get(name, 1.0)
                    total += np.float32(weight) * member.ready[member.stems.index(name), :, :count]
                    weights += weight
            audio = total / np.float32(weights)
            if not np.isfinite(audio).all():
                raise SeparationInputError("the model produced invalid samples (NaN or infinite)")
            if self.clip:
                audio = np.clip(audio, -1.0, 1.0)
            writer.write(np.ascontiguousarray(audio, dtype=np.float32))
        for member, _ in self.members:
            member.ready = member.ready[..., count:]
        self.written += count

    def close(self, complete: bool) -> None:
        self.flush()
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
    plan: Plan | Ensemble,
    output: OutputFormat,
    *,
    on_progress: Callable[[float], None] = _no_progress,
    stopped: Callable[[], bool] = _never,
) -> Result:
    """Write each stem named in `outputs` to its path; returns what was written. When
    `stopped` says so, a forward pass in progress ends between two layers of the model
    (SegmentCancelledError). An ensemble runs its members side by side on the same blocks
    and writes the weighted mean of their stems."""
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
    parts = plan.members if isinstance(plan, Ensemble) else ((plan, {}),)
    statistics = functools.cache(lambda: _mix_statistics(source))
    members: list[tuple[_Member, Mapping[str, float]]] = []
    for part, weights in parts:
        wanted = [s for s in outputs if s in part.sources and weights.get(s, 1.0) > 0]
        member = _Member(part, wanted, rate_in, channels_in, stopped, statistics, frames)
        members.append((member, weights))
    to_model = {m.input_key: _Resampler(rate_in, m.rate, m.plan.audio_channels) for m, _ in members}
    stems = _StemWriters(outputs, members, output, rate_in, channels_in, frames)

    def progress() -> float:
        return min(min(m.progress for m, _ in members), 0.99)

    complete = False
    try:
        for block in read_blocks(source, BLOCK_FRAMES):
            converted: dict[tuple[int, int], np.ndarray] = {}
            for key, resample in to_model.items():
                channels = key[1]
                wide = np.repeat(block, 2, axis=0) if channels_in == 1 and channels == 2 else block
                converted[key] = resample(wide)
            for member, _ in members:
                member.push(converted[member.input_key])
                member.take(member.stream.drain())
            stems.flush()
            on_progress(progress())
        for key, resample in to_model.items():
            tail = resample(np.zeros((key[1], 0), dtype=np.float32), last=True)
            for member, _ in members:
                if member.input_key == key and tail.shape[-1]:
                    member.push(tail)
        for member, _ in members:
            member.stream.end()
        while not all(m.stream.done for m, _ in members):
            for member, _ in members:
                if not member.stream.done:
                    member.take(member.stream.drain(wait=True))
            stems.flush()
            on_progress(progress())
        for member, _ in members:
            member.take(torch.zeros(len(member.plan.sources), member.plan.audio_channels, 0), True)
        complete = True
    except (sf.LibsndfileError, RuntimeError) as e:
        if isinstance(e, sf.LibsndfileError) or "libsndfile" in str(e).lower():
            raise AudioDecodeError(f"the input audio is damaged: {decode_reason(e)}") from e
        raise
    finally:
        stems.close(complete)
    on_progress(1.0)
    return Result(frames, rate_in, channels_in)
