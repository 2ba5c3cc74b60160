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
from cadenza.effects.chain import ChainProcessor

BLOCK_FRAMES = 1 << 16


class ChainError(ValueError):
    """The chain cannot be applied to this audio; the message says why."""


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


def apply_chain(
    source: Path,
    dest: Path,
    chain: Sequence[Effect],
    output: OutputFormat,
    *,
    block_frames: int = BLOCK_FRAMES,
    on_progress: Callable[[float], None] = _no_progress,
) -> ProcessResult:
    """Read `source` block by block, run `chain`, write `dest`; same rate, channels, length."""
    sample_rate, channels, expected = header_info(source)
    problems = nyquist_violations(list(chain), sample_rate)
    if problem := output.sample_rate_problem(sample_rate, channels):
        problems.append(problem)
    if problems:
        raise ChainError("; ".join(problems))

    processor = ChainProcessor(chain, sample_rate)
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
