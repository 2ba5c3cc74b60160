"""Against a real nats-server: streams from code, deduplicated publishes, cancellations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import StorageType

from cadenza.contracts import JobProgress
from cadenza.contracts.streams import ALL_STREAMS, WEEK_S
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.runtime.bus import Bus, ensure_streams, make_broker
from cadenza.runtime.cancellation import Cancellations
from cadenza.runtime.settings import BusSettings


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


async def test_streams_are_created_from_code_and_reconciled(nc: Client) -> None:
    js = nc.jetstream()
    await ensure_streams(js)
    await ensure_streams(js)  # a second start changes nothing and does not fail
    for spec in ALL_STREAMS:
        info = await js.stream_info(spec.name)
        assert info.config.subjects == list(spec.subjects)
        assert info.config.storage == StorageType.FILE
        assert info.config.max_age == WEEK_S
        assert info.config.duplicate_window == spec.duplicate_window_s


async def test_publishing_the_same_event_twice_stores_it_once(nats_server: NatsServer) -> None:
    broker = make_broker(BusSettings(nats_url=nats_server.url), name="test")
    connection = await broker.connect()
    js = connection.jetstream()
    await ensure_streams(js)
    bus = Bus(broker)
    event = JobProgress(
        job_id=uuid.uuid4(), owner="alice", correlation_id=uuid.uuid4(), stage="x", progress=0.5
    )
    first = await bus.publish(event)
    again = await bus.publish(event)
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq
    stored = [
        m
        for m in await stream_messages(js, "job.progress")
        if str(event.event_id).encode() in m.data
    ]
    assert len(stored) == 1
    assert stored[0].headers is not None
    assert stored[0].headers["Nats-Msg-Id"] == str(event.event_id)
    assert JobProgress.model_validate_json(stored[0].data) == event
    await broker.stop()


async def test_cancellations_reach_running_workers_and_new_ones(nc: Client) -> None:
    js = nc.jetstream()
    worker = Cancellations(js)
    await worker.start()
    job = uuid.uuid4()
    assert not worker.is_cancelled(job)
    await Cancellations(js).cancel(job, "owner asked")
    for _ in range(100):
        if worker.is_cancelled(job):
            break
        await asyncio.sleep(0.02)
    assert worker.is_cancelled(job)
    late = Cancellations(js)
    await late.start()
    assert late.is_cancelled(job), "a worker started later sees earlier cancellations"
    assert not late.is_cancelled(uuid.uuid4())
    await worker.stop()
    await late.stop()
