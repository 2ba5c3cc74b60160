"""`cadenza live`: stream 16-bit WAV audio through a live session and write what comes back.

The source is a file (sent as a sound card would with `realtime`: one block per block
duration, or as fast as the server keeps up) or `-`, standard input read as it arrives, which
is how a microphone gets in: `arecord -f S16_LE -r 48000 -c 2 -t wav | cadenza live - …`.
The destination is a file, written when the stream ends, or `-`: a WAV stream on standard
output, each block as it comes back, for a player (`… --out - | aplay`). Standard library
only: WAV headers are read and written here."""

from __future__ import annotations

import asyncio
import struct
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cadenza.client.async_client import AsyncCadenza
from cadenza.client.errors import CadenzaError

PCM = 1
EXTENSIBLE = 0xFFFE
PCM_SUBFORMAT = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# A data size this large (or 0) is what recorders write when they do not know the length
# yet (arecord, sox to a pipe): read to the end of the stream.
UNKNOWN_SIZE = 0x7FFF0000
STREAMING_SIZE = 0xFFFFFFFF


@dataclass(frozen=True)
class LiveRun:
    blocks: int
    block_ms: float
    seconds: float
    # Per block: time from sending it to getting it back.
    round_trips_ms: list[float]


@dataclass(frozen=True)
class WavFormat:
    rate: int
    channels: int

    @property
    def frame_bytes(self) -> int:
        return 2 * self.channels


def _read_exactly(stream: BinaryIO, size: int, name: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CadenzaError(0, f"{name}: not a PCM WAV stream (it ends inside its header)")
    return data


def read_wav_header(stream: BinaryIO, name: str) -> tuple[WavFormat, int | None]:
    """Read a WAV header up to its audio; the format, and how many bytes of audio follow
    (None: until the stream ends)."""
    riff, _, wave_id = struct.unpack("<4sI4s", _read_exactly(stream, 12, name))
    if riff != b"RIFF" or wave_id != b"WAVE":
        raise CadenzaError(0, f"{name}: not a WAV file (no RIFF/WAVE header)")
    fmt: WavFormat | None = None
    while True:
        chunk, size = struct.unpack("<4sI", _read_exactly(stream, 8, name))
        if chunk == b"data":
            if fmt is None:
                raise CadenzaError(0, f"{name}: its audio comes before its format")
            return fmt, None if size == 0 or size >= UNKNOWN_SIZE else size
        body = _read_exactly(stream, size + size % 2, name)
        if chunk == b"fmt ":
            fmt = _format(body, name)


def _format(body: bytes, name: str) -> WavFormat:
    if len(body) < 16:
        raise CadenzaError(0, f"{name}: a WAV format chunk of {len(body)} bytes is too short")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == EXTENSIBLE and body[24:40] == PCM_SUBFORMAT:
        tag = PCM
    if tag != PCM or bits != 16:
        raise CadenzaError(0, f"{name}: {bits}-bit (format {tag}); `cadenza live` takes 16-bit PCM")
    if channels not in (1, 2):
        raise CadenzaError(0, f"{name}: {channels} channels; live takes mono or stereo")
    return WavFormat(rate, channels)


def streaming_wav_header(fmt: WavFormat) -> bytes:
    """A 16-bit PCM WAV header whose sizes say "unknown length", for a stream."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        STREAMING_SIZE,
        b"WAVE",
        b"fmt ",
        16,
        PCM,
        fmt.channels,
        fmt.rate,
        fmt.rate * fmt.frame_bytes,
        fmt.frame_bytes,
        16,
        b"data",
        STREAMING_SIZE,
    )


class BlockReader:
    """Blocks of `block_bytes` from a WAV stream's audio, the last one padded with silence;
    `total` (the audio's bytes) is known once the stream has ended."""

    def __init__(self, stream: BinaryIO, size: int | None, block_bytes: int) -> None:
        self.stream, self.left, self.block_bytes = stream, size, block_bytes
        self.total: int | None = None
        self._read = 0

    def read_block(self) -> bytes | None:
        want = self.block_bytes if self.left is None else min(self.block_bytes, self.left)
        data = b""
        while len(data) < want:  # a pipe hands over what it has: gather a whole block
            more = self.stream.read(want - len(data))
            if not more:
                break
            data += more
        self._read += len(data)
        if self.left is not None:
            self.left -= len(data)
        if len(data) < self.block_bytes:
            self.total = self._read
            if not data:
                return None
        return data + b"\x00" * (self.block_bytes - len(data))


class WavSink:
    """Where processed blocks go: a file written at the end, or a WAV stream written (and
    flushed) block by block. Either way the padding of the last block is cut."""

    def __init__(self, dest: Path | BinaryIO, fmt: WavFormat) -> None:
        self.dest, self.fmt = dest, fmt
        self.kept = bytearray()
        self.written = 0
        if not isinstance(dest, Path):
            dest.write(streaming_wav_header(fmt))
            dest.flush()

    def write(self, block: bytes, total: int | None) -> None:
        if total is not None:
            block = block[: max(0, total - self.written)]
        self.written += len(block)
        if isinstance(self.dest, Path):
            self.kept += block
        else:
            self.dest.write(block)
            self.dest.flush()

    def close(self) -> None:
        if isinstance(self.dest, Path):
            with wave.open(str(self.dest), "wb") as target:
                target.setnchannels(self.fmt.channels)
                target.setsampwidth(2)
                target.setframerate(self.fmt.rate)
                target.writeframes(bytes(self.kept))


async def stream_file(
    api: AsyncCadenza,
    source: Path | BinaryIO,
    dest: Path | BinaryIO,
    chain: list[dict[str, Any]],
    *,
    block_ms: float,
    realtime: bool,
    on_block: Callable[[int, int | None], None] | None = None,
) -> LiveRun:
    """Stream `source` (a WAV file, or a binary stream read as it arrives) through `chain`
    into `dest` (a WAV file, or a binary stream written block by block)."""
    name = str(source) if isinstance(source, Path) else "standard input"
    stream: BinaryIO
    if isinstance(source, Path):
        try:
            stream = source.open("rb")
        except OSError as e:
            raise CadenzaError(0, f"{source}: {e.strerror}") from e
    else:
        stream = source
    try:
        return await _stream(api, stream, name, dest, chain, block_ms, realtime, on_block)
    finally:
        if isinstance(source, Path):
            stream.close()


async def _stream(
    api: AsyncCadenza,
    stream: BinaryIO,
    name: str,
    dest: Path | BinaryIO,
    chain: list[dict[str, Any]],
    block_ms: float,
    realtime: bool,
    on_block: Callable[[int, int | None], None] | None,
) -> LiveRun:
    fmt, size = read_wav_header(stream, name)
    block_frames = max(16, round(fmt.rate * block_ms / 1000))
    block_bytes = block_frames * fmt.frame_bytes
    # A file's block count is known ahead (for a progress bar); a stream's is not.
    expected = -(-size // block_bytes) if size is not None else None
    reader = BlockReader(stream, size, block_bytes)
    sent_at: list[float] = []

    async def blocks() -> AsyncIterator[bytes]:
        start = time.monotonic()
        while True:
            # A pipe blocks until the recorder has a block: read it off the event loop.
            block = await asyncio.to_thread(reader.read_block)
            if block is None:
                return
            if realtime:
                due = start + len(sent_at) * block_frames / fmt.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent_at.append(time.monotonic())
            yield block

    sink = WavSink(dest, fmt)
    trips: list[float] = []
    started = time.monotonic()
    async with api.live(
        chain,
        sample_rate=fmt.rate,
        channels=fmt.channels,
        block_frames=block_frames,
        sample_format="int16",
    ) as live:
        async for processed in live.stream(blocks()):
            trips.append((time.monotonic() - sent_at[len(trips)]) * 1000)
            sink.write(processed, reader.total)
            if on_block:
                on_block(len(trips), expected)
    sink.close()
    return LiveRun(len(trips), 1000 * block_frames / fmt.rate, time.monotonic() - started, trips)
