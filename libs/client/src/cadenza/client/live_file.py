"""`cadenza live`: stream a 16-bit WAV file through a live session, as a sound card would
(`realtime`: one block per block duration) or as fast as the server keeps up, and write what
comes back. Standard library only (`wave`)."""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cadenza.client.async_client import AsyncCadenza
from cadenza.client.errors import CadenzaError


@dataclass(frozen=True)
class LiveRun:
    blocks: int
    block_ms: float
    seconds: float
    # Per block: time from sending it to getting it back.
    round_trips_ms: list[float]


def read_wav(path: Path) -> tuple[wave._wave_params, bytes]:
    try:
        with wave.open(str(path), "rb") as source:
            params = source.getparams()
            frames = source.readframes(params.nframes)
    except (wave.Error, EOFError) as e:
        raise CadenzaError(0, f"{path}: not a PCM WAV file ({e})") from e
    if params.sampwidth != 2:
        raise CadenzaError(
            0, f"{path}: {8 * params.sampwidth}-bit; `cadenza live` takes 16-bit WAV"
        )
    if params.nchannels > 2:
        raise CadenzaError(0, f"{path}: {params.nchannels} channels; live takes mono or stereo")
    return params, frames


async def stream_file(
    api: AsyncCadenza,
    source: Path,
    dest: Path,
    chain: list[dict[str, Any]],
    *,
    block_ms: float,
    realtime: bool,
    on_block: Callable[[int, int], None] | None = None,
) -> LiveRun:
    params, pcm = read_wav(source)
    rate, channels = params.framerate, params.nchannels
    block_frames = max(16, round(rate * block_ms / 1000))
    block_bytes = block_frames * channels * 2
    padded = pcm + b"\x00" * (-len(pcm) % block_bytes)
    blocks = [padded[i : i + block_bytes] for i in range(0, len(padded), block_bytes)]
    sent_at: list[float] = []

    async def paced() -> AsyncIterator[bytes]:
        start = time.monotonic()
        for index, block in enumerate(blocks):
            if realtime:
                await asyncio.sleep(
                    max(0.0, start + index * block_frames / rate - time.monotonic())
                )
            sent_at.append(time.monotonic())
            yield block

    out = bytearray()
    trips: list[float] = []
    started = time.monotonic()
    async with api.live(
        chain, sample_rate=rate, channels=channels, block_frames=block_frames, sample_format="int16"
    ) as live:
        async for processed in live.stream(paced()):
            trips.append((time.monotonic() - sent_at[len(trips)]) * 1000)
            out += processed
            if on_block:
                on_block(len(trips), len(blocks))
    with wave.open(str(dest), "wb") as target:
        target.setnchannels(channels)
        target.setsampwidth(2)
        target.setframerate(rate)
        target.writeframes(bytes(out[: len(pcm)]))
    return LiveRun(len(blocks), 1000 * block_frames / rate, time.monotonic() - started, trips)
