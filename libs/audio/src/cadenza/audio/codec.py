"""Chunked decoding and encoding, so memory stays flat whatever the track length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from cadenza.contracts.audio_format import OutputFormat

_PCM_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
_DEFAULT_BIT_DEPTH = {"wav": 24, "flac": 24}
_CONTAINER = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG"}


def read_blocks(path: Path, block_frames: int, *, overlap: int = 0) -> Iterator[np.ndarray]:
    """Float32 blocks shaped (channels, frames), read sequentially from the file."""
    with sf.SoundFile(str(path)) as f:
        for block in f.blocks(block_frames, overlap=overlap, dtype="float32", always_2d=True):
            yield np.ascontiguousarray(block.T)


def soundfile_args(output: OutputFormat) -> dict[str, Any]:
    container = _CONTAINER[output.format]
    args: dict[str, Any] = {"format": container}
    if output.format in _DEFAULT_BIT_DEPTH:
        args["subtype"] = _PCM_SUBTYPES[output.bit_depth or _DEFAULT_BIT_DEPTH[output.format]]
    elif output.format == "mp3":
        args["subtype"] = "MPEG_LAYER_III"
        args["bitrate_mode"] = "VARIABLE"
        args["compression_level"] = 1.0 - output.quality
    else:
        args["subtype"] = "VORBIS"
        args["compression_level"] = 1.0 - output.quality
    return args


class AudioWriter:
    """Writes (channels, frames) float32 blocks to a file in the requested format."""

    def __init__(self, path: Path, output: OutputFormat, sample_rate: int, channels: int) -> None:
        self.frames_written = 0
        self._file = sf.SoundFile(
            str(path),
            mode="w",
            samplerate=sample_rate,
            channels=channels,
            **soundfile_args(output),
        )

    def write(self, block: np.ndarray) -> None:
        if block.shape[-1] == 0:
            return
        self._file.write(block.T)
        self.frames_written += block.shape[-1]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
