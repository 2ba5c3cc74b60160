"""The connection guard on a real uvicorn server: connections per address (WebSockets
included, released when they close), a header timeout against slow clients, a header size
limit, and trusted proxies exempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from cadenza.devstack.ports import free_port
from cadenza.gateway.connection_guard import ConnectionLimits, guarded_protocol


async def hello(_: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_text(text)


APP = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", echo)])


@asynccontextmanager
async def serving(limits: ConnectionLimits) -> AsyncIterator[int]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            APP,
            host="127.0.0.1",
            port=port,
            http=guarded_protocol(limits),
            log_config=None,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def _request(port: int, raw: bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    return answer


async def test_an_address_may_hold_only_so_many_connections() -> None:
    limits = ConnectionLimits(max_per_address=3, header_timeout_s=5, max_header_bytes=8192)
    async with serving(limits) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        socket = await websockets.connect(f"ws://127.0.0.1:{port}/ws")
        await socket.send("hi")
        assert await socket.recv() == "hi"
        # Two idle connections and one WebSocket: the fourth is refused before it is read.
        refused = await _request(port)
        assert refused.startswith(b"HTTP/1.1 503")
        assert b"too many open connections from 127.0.0.1 (at most 3)" in refused
        await socket.close()
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.2)
        assert limits.open == {}, "closed connections and WebSockets give their places back"
        assert (await _request(port)).startswith(b"HTTP/1.1 200")


async def test_slow_headers_are_cut_off() -> None:
    limits = ConnectionLimits(max_per_address=10, header_timeout_s=0.5, max_header_bytes=8192)
    async with serving(limits) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        answered = asyncio.create_task(reader.read(4096))
        for _ in range(10):  # a header line every 0.2 s: never done
            await asyncio.sleep(0.2)
            if answered.done():
                break
            try:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
            except ConnectionError:
                break
        answer = await asyncio.wait_for(answered, 5)
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 1.5
        writer.close()
        # A connection that sends nothing at all is closed too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await asyncio.wait_for(reader.read(4096), 5)).startswith(b"HTTP/1.1 408")
        writer.close()
        # Kept alive between requests: the next request gets the same allowance.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(4096), 5)).startswith(b"HTTP/1.1 200")
        writer.write(b"GET / HTTP/1.1\r\n")
        assert (await asyncio.wait_for(reader.read(4096), 5)).startswith(b"HTTP/1.1 408")
        writer.close()


async def test_headers_past_the_size_limit_are_refused() -> None:
    limits = ConnectionLimits(max_per_address=10, header_timeout_s=5, max_header_bytes=4096)
    async with serving(limits) as port:
        big = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 5000 + b"\r\n\r\n"
        assert (await _request(port, big)).startswith(b"HTTP/1.1 431")
        long_url = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert (await _request(port, long_url)).startswith(b"HTTP/1.1 431")
        assert (await _request(port)).startswith(b"HTTP/1.1 200")


async def test_trusted_proxies_are_not_counted() -> None:
    limits = ConnectionLimits(
        max_per_address=1,
        header_timeout_s=5,
        max_header_bytes=8192,
        trusted_proxies=("127.0.0.0/8",),
    )
    async with serving(limits) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        assert (await _request(port)).startswith(b"HTTP/1.1 200")
        for _, writer in held:
            writer.close()
