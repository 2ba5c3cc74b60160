"""Live effects from Python: a session on WS /api/v1/live. Blocks are raw PCM bytes in the
session's format (interleaved, little-endian; float32 or int16), so no audio library is
needed here; `cadenza live` reads and writes 16-bit WAV files with the standard library.

    async with api.live([{"type": "reverb"}], block_frames=480) as live:
        async for processed in live.stream(blocks):        # keeps a few blocks in flight
            speaker.write(processed)
        await live.set(0, room_size=0.9)                   # ramped, no click
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import Any, Self

import websockets
from websockets.asyncio.client import ClientConnection

from cadenza.client.errors import CadenzaError

# Blocks sent and not yet back, by default: enough to hide the round trip, far under the
# server's own bound.
AHEAD = 4


class LiveStream:
    """One open session. `format` and `block_bytes` are what the server confirmed."""

    def __init__(self, url: str, headers: dict[str, str], open_message: dict[str, Any]) -> None:
        self._url = url
        self._headers = headers
        self._open = open_message
        self._ws: ClientConnection | None = None
        self.format: dict[str, Any] = {}
        self.block_bytes = 0
        self.session_id = ""
        self._last_text: dict[str, Any] = {}

    async def __aenter__(self) -> Self:
        try:
            self._ws = await websockets.connect(self._url, additional_headers=self._headers)
        except (OSError, websockets.InvalidHandshake) as e:
            raise CadenzaError(0, f"cannot open a live session at {self._url}: {e}") from e
        await self._ws.send(json.dumps(self._open))
        ready = await self._text()
        if ready.get("type") != "ready":
            raise CadenzaError(400, f"unexpected first message: {ready}")
        self.format = ready["format"]
        self.block_bytes = int(ready["block_bytes"])
        self.session_id = ready["session_id"]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._ws.send(json.dumps({"type": "close"}))
            await self._ws.close()

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None, "use `async with`"
        return self._ws

    async def send(self, block: bytes) -> None:
        try:
            await self.ws.send(block)
        except websockets.ConnectionClosed as e:
            raise self._closed(e) from e

    async def receive(self) -> bytes:
        """The next processed block (they come back in the order they were sent)."""
        while True:
            try:
                message = await self.ws.recv()
            except websockets.ConnectionClosed as e:
                raise self._closed(e) from e
            if isinstance(message, bytes):
                return message
            self._last_text = json.loads(message)

    async def process(self, block: bytes) -> bytes:
        await self.send(block)
        return await self.receive()

    async def stream(
        self, blocks: Iterable[bytes] | AsyncIterable[bytes], ahead: int = AHEAD
    ) -> AsyncIterator[bytes]:
        """Send every block (up to `ahead` at once with the server) while yielding the
        processed ones in order as soon as each arrives: a paced source (a microphone)
        gets each block back one round trip after sending it."""
        credits = asyncio.Semaphore(ahead)
        sent = 0

        async def pump() -> None:
            nonlocal sent
            async for block in _aiter(blocks):
                await credits.acquire()
                await self.send(block)
                sent += 1

        sender = asyncio.create_task(pump())
        received = 0
        try:
            while True:
                if sender.done():
                    sender.result()  # the sender's error, if any
                    if received >= sent:
                        return
                arriving = asyncio.ensure_future(self.receive())
                await asyncio.wait({arriving, sender}, return_when=asyncio.FIRST_COMPLETED)
                if not arriving.done() and received >= sent:
                    arriving.cancel()  # websockets: a cancelled recv loses nothing
                    continue
                block = await arriving
                received += 1
                credits.release()
                yield block
        finally:
            sender.cancel()

    async def set(self, index: int, **params: float | bool) -> None:
        """Change parameters of the chain's effect at `index` before the next block."""
        await self.ws.send(json.dumps({"type": "set", "index": index, "params": params}))

    async def replace(self, chain: list[dict[str, Any]]) -> None:
        """A new chain; effects that keep their place and type keep their state."""
        await self.ws.send(json.dumps({"type": "chain", "chain": chain}))

    async def _text(self) -> dict[str, Any]:
        try:
            message = await asyncio.wait_for(self.ws.recv(), 30)
        except websockets.ConnectionClosed as e:
            raise self._closed(e) from e
        if isinstance(message, bytes):
            raise CadenzaError(400, "the server sent audio before the session was ready")
        data: dict[str, Any] = json.loads(message)
        if data.get("type") == "closed":
            await self._drain()
            raise CadenzaError(int(data.get("code", 0)), str(data.get("reason")))
        return data

    async def _drain(self) -> None:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), 5)
        except (websockets.ConnectionClosed, TimeoutError):
            return

    def _closed(self, error: websockets.ConnectionClosed) -> CadenzaError:
        code = error.rcvd.code if error.rcvd else 0
        text = (
            self._last_text.get("reason") or (error.rcvd.reason if error.rcvd else "") or str(error)
        )
        return CadenzaError(code, f"the live session ended: {text}")


async def _aiter(blocks: Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(blocks, AsyncIterable):
        async for block in blocks:
            yield block
    else:
        for block in blocks:
            yield block


def open_message(
    chain: list[dict[str, Any]],
    *,
    sample_rate: int,
    channels: int,
    block_frames: int,
    sample_format: str,
) -> dict[str, Any]:
    return {
        "type": "open",
        "chain": chain,
        "format": {
            "sample_rate": sample_rate,
            "channels": channels,
            "block_frames": block_frames,
            "sample_format": sample_format,
        },
    }
