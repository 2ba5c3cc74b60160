"""Apply an effect chain to an audio file, streaming: memory does not grow with its length."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from cadenza.audio import AudioDecodeError, AudioWriter, decode_reason, header_info, read_blocks
from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.effect_chain import Effect, nyquist_violations
from cadenza.contracts.effect_costs import block_frames_for, memory_problem
from cadenza.contracts.limits import describe_bytes
from cadenza.effects.chain import ChainProcessor

BLOCK_FRAMES = 1 << 16


class ChainError(ValueError):
    """The chain cannot be applied to this audio; the message says why."""


class BudgetError(ChainError):
    """Applying the chain to this audio would need more than the job may spend."""


@dataclass(frozen=True)
class ProcessResult:
    frames: int
    sample_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _no_progress(_: float) -> None:
    return None


def _nothing() -> None:
    return None


def check_budget(
    chain: Sequence[Effect],
    output: OutputFormat,
    sample_rate: int,
    channels: int,
    frames: int,
    block_frames: int,
    *,
    max_memory_bytes: int | None,
    max_output_bytes: int | None,
) -> None:
    """BudgetError when the chain's working memory or the output's size would pass a limit,
    before any work starts."""
    if max_memory_bytes is not None and (
        problem := memory_problem(chain, sample_rate, channels, block_frames, max_memory_bytes)
    ):
        index, sentence = problem
        raise BudgetError(f"chain.{index}: {sentence}")
    size = frames * channels * output.bytes_per_sample
    if max_output_bytes is not None and size > max_output_bytes:
        raise BudgetError(
            f"the output would take about {describe_bytes(size)}, over the limit of "
            f"{describe_bytes(max_output_bytes)} for this job; choose a compressed format or "
            "a lower bit depth"
        )


def apply_chain(
    source: Path,
    dest: Path,
    chain: Sequence[Effect],
    output: OutputFormat,
    *,
    block_frames: int = BLOCK_FRAMES,
    on_progress: Callable[[float], None] = _no_progress,
    checkpoint: Callable[[], None] = _nothing,
    max_memory_bytes: int | None = None,
    max_output_bytes: int | None = None,
) -> ProcessResult:
    """Read `source` block by block, run `chain`, write `dest`; same rate, channels, length.
    Refuses (BudgetError) before reading a sample when the chain or the output would pass
    the limits; `checkpoint` runs between the stages of every block."""
    sample_rate, channels, expected = header_info(source)
    problems = nyquist_violations(list(chain), sample_rate)
    if problem := output.sample_rate_problem(sample_rate, channels):
        problems.append(problem)
    if problems:
        raise ChainError("; ".join(problems))
    block_frames = block_frames_for(channels, block_frames)
    check_budget(
        chain,
        output,
        sample_rate,
        channels,
        expected,
        block_frames,
        max_memory_bytes=max_memory_bytes,
        max_output_bytes=max_output_bytes,
    )

    processor = ChainProcessor(chain, sample_rate, checkpoint)
    clip = output.format != "wav" or output.bit_depth != 32
    read = written = 0

    with AudioWriter(dest, output, sample_rate, channels) as writer:

        def emit(block: np.ndarray) -> None:
            nonlocal written
            block = block[:, : max(read - written, 0)]
            if not np.isfinite(block).all():
                raise ChainError(
                    "the chain produced invalid samples (infinite or NaN); "
                    "check filter frequencies and feedback settings"
                )
            writer.write(np.clip(block, -1.0, 1.0, out=block) if clip else block)
            written += block.shape[-1]

        try:
            for block in read_blocks(source, block_frames):
                read += block.shape[-1]
                emit(processor.process(block))
                on_progress(read / expected if expected else 0.0)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioDecodeError(f"the input audio is damaged: {decode_reason(e)}") from e
        emit(processor.flush(channels))
        if written < read:  # a stage that returned short: pad so the length is preserved
            emit(np.zeros((channels, read - written), dtype=np.float32))
    on_progress(1.0)
    return ProcessResult(written, sample_rate, channels)
