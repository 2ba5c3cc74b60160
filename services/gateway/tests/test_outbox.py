"""The transactional outbox against real PostgreSQL and NATS: an accepted job's events go
out once (the relay never races a publish in progress or a confirmation not yet forgotten),
and whatever JetStream did not confirm is published by the relay, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import asyncpg
import nats
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import PubAck

from cadenza.contracts import JobCancelled
from cadenza.contracts.envelope import Envelope, Event
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.outbox import Outbox, OutboxRelay, stage
from cadenza.runtime.bus import Bus, ensure_streams, make_broker
from cadenza.runtime.settings import BusSettings


class GatedBus(Bus):
    """Publishes only once `gate` is open; events named in `refuse` fail instead."""

    def __init__(self, broker: NatsBroker) -> None:
        super().__init__(broker)
        self.gate = asyncio.Event()
        self.refuse: set[uuid.UUID] = set()

    async def publish(self, event: Envelope) -> PubAck:
        await self.gate.wait()
        if event.event_id in self.refuse:
            raise TimeoutError("nats: timeout (no PubAck)")
        return await super().publish(event)


@dataclass
class Wire:
    """Every copy of an event a plain core subscriber on `job.>` receives."""

    copies: list[uuid.UUID] = field(default_factory=list)

    async def record(self, msg: Msg) -> None:
        self.copies.append(JobCancelled.model_validate_json(msg.data).event_id)


@dataclass
class Setup:
    pool: asyncpg.Pool
    bus: GatedBus
    wire: Wire
    nc: Client


@pytest.fixture
async def setup(fresh_database: str, fresh_nats: NatsServer) -> AsyncIterator[Setup]:
    pool = await create_pool(fresh_database, size=4)
    await migrate(pool)
    broker = make_broker(BusSettings(nats_url=fresh_nats.url), name="outbox-test")
    connection = await broker.connect()
    await ensure_streams(connection.jetstream())
    nc = await nats.connect(fresh_nats.url)
    wire = Wire()
    await nc.subscribe("job.>", cb=wire.record)
    await nc.flush()
    yield Setup(pool, GatedBus(broker), wire, nc)
    await nc.close()
    await broker.stop()
    await pool.close()


async def accept(pool: asyncpg.Pool, count: int) -> list[Event]:
    events: list[Event] = [
        JobCancelled(job_id=uuid.uuid4(), owner="alice", correlation_id=uuid.uuid4())
        for _ in range(count)
    ]
    async with pool.acquire() as conn, conn.transaction():
        await stage(conn, events)
    return events


async def left(pool: asyncpg.Pool) -> set[uuid.UUID]:
    return {r["event_id"] for r in await pool.fetch("SELECT event_id FROM outbox")}


async def relayed(relay: OutboxRelay) -> int:
    """One round of the relay (one that published an event still being published would
    wait on the closed gate: a failure here, not a hang)."""
    return await asyncio.wait_for(relay.relay_once(), 5)


async def settle(s: Setup) -> None:
    await s.nc.flush()
    await asyncio.sleep(0.2)


async def stored(s: Setup, events: Sequence[Event]) -> list[uuid.UUID]:
    ids = {e.event_id for e in events}
    found = [
        JobCancelled.model_validate_json(m.data).event_id
        for m in await stream_messages(s.nc.jetstream(), "job.cancelled")
    ]
    return [i for i in found if i in ids]


async def test_the_relay_leaves_a_publish_in_progress_and_a_confirmation_alone(
    setup: Setup,
) -> None:
    s = setup
    outbox = Outbox(s.pool, s.bus)
    relay = OutboxRelay(outbox, grace_s=0.0)  # every row is old enough for it at once
    events = await accept(s.pool, 2)
    publishing = asyncio.create_task(outbox.publish_staged(events))
    await asyncio.sleep(0.05)
    assert await relayed(relay) == 0, "the gateway's own publish is still waiting"
    s.bus.gate.set()
    assert await publishing
    assert await relayed(relay) == 0, "confirmed, though not yet deleted"
    assert await left(s.pool) == {e.event_id for e in events}
    assert await outbox.flush_confirmed() == 2
    assert await left(s.pool) == set()
    await settle(s)
    assert sorted(s.wire.copies) == sorted(e.event_id for e in events), "one copy each"
    assert sorted(await stored(s, events)) == sorted(e.event_id for e in events)


async def test_what_jetstream_did_not_confirm_is_relayed_once(setup: Setup) -> None:
    s = setup
    outbox = Outbox(s.pool, s.bus)
    relay = OutboxRelay(outbox, grace_s=0.0)
    confirmed, refused = await accept(s.pool, 2)
    s.bus.refuse.add(refused.event_id)
    s.bus.gate.set()
    assert not await outbox.publish_staged([confirmed, refused])
    assert await outbox.flush_confirmed() == 1, "what JetStream confirmed is forgotten"
    assert await left(s.pool) == {refused.event_id}
    s.bus.refuse.clear()  # NATS answers again
    assert await relayed(relay) == 1
    assert await relayed(relay) == 0
    assert await left(s.pool) == set()
    await settle(s)
    assert sorted(s.wire.copies) == sorted([confirmed.event_id, refused.event_id])
    assert sorted(await stored(s, [confirmed, refused])) == sorted(
        [confirmed.event_id, refused.event_id]
    )


async def test_a_gateway_that_died_before_publishing_loses_nothing(setup: Setup) -> None:
    s = setup
    (event,) = await accept(s.pool, 1)  # committed, then the process died
    s.bus.gate.set()
    relay = OutboxRelay(Outbox(s.pool, s.bus), grace_s=0.3)  # a fresh process's relay
    assert await relayed(relay) == 0, "younger than the grace: maybe being published"
    await asyncio.sleep(0.4)
    assert await relayed(relay) == 1
    await settle(s)
    assert s.wire.copies == [event.event_id]
    assert await stored(s, [event]) == [event.event_id]


def test_the_default_grace_outlasts_a_publish_waiting_for_its_ack() -> None:
    bus = Bus(make_broker(BusSettings(), name="unused"), timeout_s=5.0)
    relay = OutboxRelay(Outbox(pool=None, bus=bus))
    assert relay.grace_s > bus.timeout_s + 1.0


async def test_a_relay_round_the_bus_stops_keeps_what_went_out(setup: Setup) -> None:
    """The first row confirmed, the second not: the first is not sent again next round."""
    s = setup
    relay = OutboxRelay(Outbox(s.pool, s.bus), grace_s=0.0)
    first, second, third = await accept(s.pool, 3)
    s.bus.refuse.add(second.event_id)
    s.bus.gate.set()
    assert await relayed(relay) == 1
    assert await left(s.pool) == {second.event_id, third.event_id}
    s.bus.refuse.clear()
    assert await relayed(relay) == 2
    await settle(s)
    assert sorted(s.wire.copies) == sorted(e.event_id for e in (first, second, third))


async def test_two_replicas_relays_publish_each_row_once(
    setup: Setup, fresh_database: str, fresh_nats: NatsServer
) -> None:
    """Two gateway replicas (each its own pool and NATS connection) relay the same outbox
    at once, in small rounds: every row goes out once on the wire (what core subscribers,
    such as each gateway's live feed, get: JetStream's dedup does not cover them)."""
    s = setup
    events = await accept(s.pool, 300)
    s.bus.gate.set()
    replicas = []
    for name in ("replica-a", "replica-b"):
        pool = await create_pool(fresh_database, size=2)
        broker = make_broker(BusSettings(nats_url=fresh_nats.url), name=name)
        await broker.connect()
        replicas.append((pool, broker, OutboxRelay(Outbox(pool, Bus(broker)), grace_s=0.0)))
    counts = [0, 0]

    async def drain(index: int, relay: OutboxRelay) -> None:
        while sent := await relay.relay_once(limit=10):
            counts[index] += sent

    try:
        await asyncio.wait_for(
            asyncio.gather(*(drain(i, relay) for i, (_, _, relay) in enumerate(replicas))), 60
        )
    finally:
        for pool, broker, _ in replicas:
            await broker.stop()
            await pool.close()
    await settle(s)
    assert sum(counts) == len(events)
    assert min(counts) > 0, f"both replicas relayed: {counts}"
    assert sorted(s.wire.copies) == sorted(e.event_id for e in events), "one copy each"
    assert await left(s.pool) == set()
