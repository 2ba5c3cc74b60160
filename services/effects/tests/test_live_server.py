"""The worker's live sessions on a real nats-server: the timing diagnostic stamps each
processed block with when the worker began and finished it, and only when asked."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import nats
import numpy as np
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from cadenza.contracts.live import (
    KIND_HEADER,
    OPEN_SUBJECT,
    SEQ_HEADER,
    TIMING_HEADER,
    LiveOpen,
    LiveOpened,
    session_in,
    session_out,
)
from cadenza.devstack.nats import NatsServer
from cadenza.effects.live_server import LiveServer

FRAMES = 480


@pytest.fixture
async def client(nats_server: NatsServer) -> AsyncIterator[Client]:
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.drain()


async def one_block(nc: Client, server: LiveServer) -> tuple[Msg, float, float]:
    """Open a session on `server`, send one block; the processed block, sent and received at."""
    await server.start()
    try:
        session_id = uuid.uuid4()
        replies: asyncio.Queue[Msg] = asyncio.Queue()
        sub = await nc.subscribe(session_out(session_id), cb=replies.put)
        ask = LiveOpen.model_validate(
            {
                "session_id": session_id,
                "owner": "alice",
                "chain": [{"type": "gain", "gain_db": -6.0}],
                "format": {"sample_rate": 48000, "channels": 2, "block_frames": FRAMES},
            }
        )
        reply = await nc.request(OPEN_SUBJECT, ask.model_dump_json().encode(), timeout=5)
        assert LiveOpened.model_validate_json(reply.data).ok
        block = np.full(FRAMES * 2, 0.5, dtype="<f4").tobytes()
        sent = time.perf_counter()
        await nc.publish(
            session_in(session_id), block, headers={KIND_HEADER: "audio", SEQ_HEADER: "1"}
        )
        msg = await asyncio.wait_for(replies.get(), 5)
        received = time.perf_counter()
        await sub.unsubscribe()
        return msg, sent, received
    finally:
        await server.stop()


async def test_timing_stamps_each_block_within_its_round_trip(client: Client) -> None:
    server = LiveServer(client, "w1", max_sessions=4, idle_timeout_s=60, timing=True)
    msg, sent, received = await one_block(client, server)
    assert msg.headers is not None and msg.headers[SEQ_HEADER] == "1"
    began, finished = (float(v) for v in msg.headers[TIMING_HEADER].split(","))
    assert sent <= began <= finished <= received  # one host, one monotonic clock
    assert np.allclose(np.frombuffer(msg.data, dtype="<f4"), 0.5 * 10 ** (-6 / 20), atol=1e-6)


async def test_no_timing_unless_asked(client: Client) -> None:
    server = LiveServer(client, "w2", max_sessions=4, idle_timeout_s=60)
    msg, _, _ = await one_block(client, server)
    assert msg.headers is not None and TIMING_HEADER not in msg.headers


def test_live_sessions_are_held_to_their_memory() -> None:
    from cadenza.contracts.live import LiveFormat, LiveOpen, SetParams
    from cadenza.effects.live_session import LiveInputError, LiveSession, NoRoomError

    fmt = LiveFormat(sample_rate=192_000, channels=2, block_frames=1920)

    def open_with(
        *delays: float, room: Callable[[LiveSession | None], int] | None = None
    ) -> LiveSession:
        request = LiveOpen(
            session_id=uuid.uuid4(),
            owner="someone",
            chain=[{"type": "delay", "delay_seconds": d} for d in delays],
            format=fmt,
        )
        return LiveSession(request, max_memory_bytes=64 << 20, room=room)

    one = open_with(30.0)  # 44 MiB of delay line: within 64 MiB
    assert one.memory_bytes == pytest.approx(30 * 192_000 * 2 * 4, rel=0.05)
    with pytest.raises(LiveInputError, match=r"chain\.1: the chain needs about 87.9 MiB"):
        open_with(30.0, 30.0)
    two = open_with(20.0, 1.0)
    with pytest.raises(LiveInputError, match="per live session"):
        two.apply(SetParams(type="set", index=1, params={"delay_seconds": 30.0}))
    delays = [getattr(e, "delay_seconds", None) for e in two.chain]
    assert delays == [20.0, 1.0], "a refused change changes nothing"
    # The worker's room for all its sessions is what is left of its total.
    with pytest.raises(NoRoomError):
        open_with(10.0, room=lambda _: 1 << 20)
