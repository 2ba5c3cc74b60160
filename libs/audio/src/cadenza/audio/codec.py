"""Chunked decoding and encoding, so memory stays flat whatever the track length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf

from cadenza.audio.probe import (
    MAX_SAMPLES,
    AudioDecodeError,
    AudioEncodeError,
    decode_reason,
    frames_of,
)
from cadenza.contracts.audio_format import DEFAULT_BIT_DEPTH, OutputFormat

_PCM_SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
_CONTAINER = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG"}


def read_blocks(
    path: Path, block_frames: int, *, overlap: int = 0, max_samples: int = MAX_SAMPLES
) -> Iterator[np.ndarray]:
    """Float32 blocks shaped (channels, frames), read sequentially from the file. Decoding
    stops (AudioDecodeError) once it passes what the header declared, or `max_samples`
    when the header declares no length: a file cannot make a worker decode more than it
    said."""
    with sf.SoundFile(str(path)) as f:
        declared = int(f.frames)
        limit = (
            declared + block_frames
            if 0 < declared < (1 << 62)
            else max_samples // max(int(f.channels), 1)
        )
        done = 0
        for block in frames_of(f, block_frames, overlap):
            done += len(block) - (overlap if done else 0)
            if done > limit:
                raise AudioDecodeError(
                    "the audio holds more samples than its header declares (or than the limit "
                    "for a file that declares none)"
                )
            yield np.ascontiguousarray(block.T)


def soundfile_args(output: OutputFormat) -> dict[str, Any]:
    container = _CONTAINER[output.format]
    args: dict[str, Any] = {"format": container}
    if output.format in ("wav", "flac"):
        args["subtype"] = _PCM_SUBTYPES[output.bit_depth or DEFAULT_BIT_DEPTH]
    elif output.format == "mp3":
        args["subtype"] = "MPEG_LAYER_III"
        args["bitrate_mode"] = "VARIABLE"
        args["compression_level"] = 1.0 - output.quality
    else:
        args["subtype"] = "VORBIS"
        args["compression_level"] = 1.0 - output.quality
    return args


class AudioWriter:
    """Writes (channels, frames) float32 blocks to a file in the requested format.

    WAV goes through pedalboard's (JUCE) writer, which is about twice as fast as
    libsndfile at converting float blocks to PCM; FLAC, MP3 and OGG through libsndfile.
    """

    def __init__(self, path: Path, output: OutputFormat, sample_rate: int, channels: int) -> None:
        # Checked before any encoder opens: some crash the process rather than refuse.
        if problem := output.sample_rate_problem(sample_rate, channels):
            raise AudioEncodeError(problem)
        self.frames_written = 0
        self._handle: BinaryIO | None = None
        self._wav: Any = None
        self._file: sf.SoundFile | None = None
        if output.format == "wav":
            from pedalboard.io import WriteableAudioFile  # heavy: only where WAV is written

            self._handle = path.open("wb")
            self._wav = WriteableAudioFile(
                self._handle,
                samplerate=sample_rate,
                num_channels=channels,
                bit_depth=output.bit_depth or DEFAULT_BIT_DEPTH,
                format="wav",
            )
        else:
            try:
                self._file = sf.SoundFile(
                    str(path),
                    mode="w",
                    samplerate=sample_rate,
                    channels=channels,
                    **soundfile_args(output),
                )
            except (sf.LibsndfileError, RuntimeError, ValueError) as e:
                raise AudioEncodeError(
                    f"{output.format} cannot hold {sample_rate} Hz audio in {channels} "
                    f"channels: {decode_reason(e)}; choose another format"
                ) from e

    def write(self, block: np.ndarray) -> None:
        if block.shape[-1] == 0:
            return
        if self._wav is not None:
            self._wav.write(np.ascontiguousarray(block, dtype=np.float32))
        else:
            assert self._file is not None
            self._file.write(block.T)
        self.frames_written += block.shape[-1]

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
