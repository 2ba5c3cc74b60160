"""The round-robin proxy against real sockets on loopback: connections take turns over
the backends that answer, each stays on its backend, half-closes pass through, and past
its bound a connection is closed at once."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest

from cadenza.devstack.ports import free_port
from cadenza.devstack.round_robin_proxy import RoundRobinProxy


async def _answer(
    name: str,
    accepted: list[asyncio.StreamWriter],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Reads until the client's end of file, then answers once with what it read."""
    accepted.append(writer)
    data = await reader.read()
    writer.write(f"{name}:".encode() + data)
    await writer.drain()
    writer.close()


@pytest.fixture
async def backends() -> AsyncIterator[list[tuple[str, int]]]:
    accepted: list[asyncio.StreamWriter] = []
    servers = [
        await asyncio.start_server(functools.partial(_answer, name, accepted), "127.0.0.1", 0)
        for name in ("a", "b")
    ]
    yield [("127.0.0.1", s.sockets[0].getsockname()[1]) for s in servers]
    for writer in accepted:  # a connection still waiting for its client's end of file
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def _ask(port: int, text: str) -> tuple[str, tuple[str, int]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    own = writer.get_extra_info("sockname")
    writer.write(text.encode())
    writer.write_eof()  # the backend answers after our end of file: a half-close
    answer = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    return answer, own


async def test_connections_take_turns_over_the_backends_that_answer(
    backends: list[tuple[str, int]],
) -> None:
    dead = ("127.0.0.1", free_port())  # nothing listens there
    proxy = RoundRobinProxy([backends[0], dead, backends[1]])
    await proxy.start()
    try:
        answers = []
        for i in range(4):
            answer, own = await _ask(proxy.port, f"hello {i}")
            answers.append(answer)
            assert proxy.backend_of(own) == (0 if answer.startswith("a:") else 2)
    finally:
        await proxy.stop()
    assert answers == ["a:hello 0", "b:hello 1", "a:hello 2", "b:hello 3"]
    assert proxy.served == [2, 0, 2]


async def test_past_its_bound_a_connection_is_closed_at_once(
    backends: list[tuple[str, int]],
) -> None:
    proxy = RoundRobinProxy(backends, max_connections=2)
    await proxy.start()
    held = [await asyncio.open_connection("127.0.0.1", proxy.port) for _ in range(2)]
    try:
        await asyncio.sleep(0.1)
        assert proxy.open == 2
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(reader.read(), 5) == b"", "closed without an answer"
        writer.close()
        assert proxy.refused == 1
        held[0][1].write_eof()
        await asyncio.sleep(0.2)  # its backend answers and closes: a place frees up
        answer, _ = await _ask(proxy.port, "again")
        assert answer.endswith(":again")
    finally:
        for _, writer in held:
            writer.close()
        await proxy.stop()
