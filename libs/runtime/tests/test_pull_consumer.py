"""The workers' pull loop (cadenza.runtime.pull_consumer) against a real nats-server: two
replicas share a burst instead of one taking it all, what it asks for stays bounded while
requests expire and come back, and a message published at any moment is delivered."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from cadenza.contracts.streams import EFFECTS
from cadenza.devstack.nats import NatsServer
from cadenza.runtime.bus import ensure_streams
from cadenza.runtime.pull_consumer import ConsumerSpec, PullConsumer

SUBJECT = "effects.requested"


def _spec(durable: str) -> ConsumerSpec:
    return ConsumerSpec(
        stream=EFFECTS.name,
        durable=durable,
        subject=SUBJECT,
        max_deliver=3,
        ack_wait_s=30.0,
        max_ack_pending=64,
    )


@pytest.fixture
async def nc(fresh_nats: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(fresh_nats.url)
    await ensure_streams(client.jetstream(), (EFFECTS,))
    yield client
    await client.close()


async def _publish(nc: NatsClient, count: int) -> None:
    js = nc.jetstream()
    await asyncio.gather(*(js.publish(SUBJECT, str(i).encode()) for i in range(count)))


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def _sequential(work_s: float, log: list[str], name: str) -> Callable[[Msg], Awaitable[None]]:
    """A handler that works one message at a time (as a worker with one slot does)."""
    lock = asyncio.Lock()

    async def handle(msg: Msg) -> None:
        async with lock:
            await asyncio.sleep(work_s)
            log.append(name)

    return handle


async def test_two_replicas_share_a_burst(nc: NatsClient) -> None:
    """Each replica may hold 10 (one slot and a window of 9): asking for its whole window at
    once, the first to ask took a burst of 16 into its own queue. Now each takes turns."""
    done: list[str] = []
    replicas = [
        PullConsumer(_spec("burst"), _sequential(0.05, done, name), capacity=10, slots=1)
        for name in ("a", "b")
    ]
    for replica in replicas:
        await replica.start(nc)
    await asyncio.sleep(0.3)  # idle: each has its slot and two lookouts asked for
    assert [r.requested for r in replicas] == [3, 3]
    held: list[tuple[int, int]] = []
    await _publish(nc, 16)
    for _ in range(10):
        held.append((replicas[0].held, replicas[1].held))
        await asyncio.sleep(0.02)
    await _until(lambda: len(done) == 16, 10, f"not all done: {done}")
    # Right after the burst, within two of each other (asking for the whole window at once,
    # the first to ask held 10 and the other 6).
    settled = [(a, b) for a, b in held if a + b == 16]
    assert settled, held
    assert all(abs(a - b) <= 2 for a, b in settled), held
    assert min(Counter(done).values()) >= 6, (Counter(done), held)
    for replica in replicas:
        await replica.stop(5)


async def test_what_it_asks_for_stays_bounded_as_requests_expire(nc: NatsClient) -> None:
    """Requests of 0.5 s expire again and again (408s); after it, the consumer still has its
    slot and two lookouts asked for, no more, and a message published then is delivered."""
    got: list[bytes] = []

    async def handle(msg: Msg) -> None:
        got.append(msg.data)

    consumer = PullConsumer(
        _spec("expiring"), handle, capacity=4, slots=1, expires_s=0.5, heartbeat_s=0.2
    )
    await consumer.start(nc)
    await asyncio.sleep(2.0)  # four expiries
    assert consumer.requested == 3
    await _publish(nc, 3)
    await _until(lambda: len(got) == 3, 5, f"delivered {got}")
    await asyncio.sleep(0.3)
    assert consumer.held == 0
    assert consumer.requested == 3
    info = await nc.jetstream().consumer_info(EFFECTS.name, "expiring")
    assert (info.num_pending, info.num_ack_pending) == (0, 0), "all acked"
    await consumer.stop(5)


async def test_a_message_from_another_account_is_seen_while_the_slots_are_busy(
    nc: NatsClient,
) -> None:
    """With its one slot busy and nothing pending, the lookouts are still asked for: a message
    published then is held at once (where the worker can give it the next turn)."""
    release = asyncio.Event()

    async def handle(msg: Msg) -> None:
        await release.wait()

    consumer = PullConsumer(_spec("lookout"), handle, capacity=4, slots=1)
    await consumer.start(nc)
    await _publish(nc, 1)
    await _until(lambda: consumer.held == 1, 5, "the first message never came")
    await asyncio.sleep(0.2)
    await _publish(nc, 1)
    await _until(lambda: consumer.held == 2, 2, "the second was not held while the slot was busy")
    release.set()
    await _until(lambda: consumer.held == 0, 5, "not settled")
    await consumer.stop(5)
