"""Float32 audio parked in a raw file: appended once in order, then read back by range.

Mastering makes several passes over the processed signal; keeping it here instead of in
memory keeps memory flat whatever the length (the page cache makes re-reads cheap).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cadenza.render.engine.loudness import CHUNK_FRAMES

SAMPLE_BYTES = 4


class RawAudio:
    def __init__(self, path: Path, channels: int) -> None:
        self.path = path
        self.channels = channels
        self.frames = 0
        self.sample_rate = 0
        self._file: BinaryIO | None = path.open("wb")

    def append(self, block: np.ndarray) -> None:
        """Add a (channels, n) block."""
        assert self._file is not None, "append after finish"
        np.ascontiguousarray(block.T, dtype=np.float32).tofile(self._file)
        self.frames += block.shape[-1]

    def finish(self, sample_rate: int) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.sample_rate = sample_rate

    def read(self, start: int, end: int) -> np.ndarray:
        """Frames [start, end) as (channels, n) float32."""
        count = (end - start) * self.channels
        data = np.fromfile(
            self.path, dtype=np.float32, count=count, offset=start * self.channels * SAMPLE_BYTES
        )
        block: np.ndarray = data.reshape(-1, self.channels).T
        return block

    def chunks(self, size: int = CHUNK_FRAMES) -> Iterator[tuple[int, int]]:
        for start in range(0, self.frames, size):
            yield start, min(start + size, self.frames)

    def around(self, start: int, end: int, context: int) -> tuple[int, int]:
        """[start, end) widened by `context` frames either side, within the audio."""
        return max(start - context, 0), min(end + context, self.frames)
