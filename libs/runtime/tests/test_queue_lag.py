"""Queue lag from a real nats-server: backlog and in-progress messages per consumer."""

from __future__ import annotations

import uuid

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from cadenza.contracts import ArtifactRef, EffectsRequested
from cadenza.contracts.streams import ALL_STREAMS, EFFECTS
from cadenza.devstack.nats import NatsServer
from cadenza.runtime.bus import ensure_streams
from cadenza.runtime.queue_lag import ACK_PENDING, PENDING, export_consumer_lag

REF = ArtifactRef(uri="file:///nowhere", media_type="audio/wav", bytes=1, sha256="0" * 64)


async def test_backlog_and_in_progress_per_consumer(fresh_nats: NatsServer) -> None:
    nc = await nats.connect(fresh_nats.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        await js.add_consumer(
            "EFFECTS",
            ConsumerConfig(
                durable_name="effects",
                filter_subject="effects.requested",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
            ),
        )
        for _ in range(5):
            command = EffectsRequested(
                job_id=uuid.uuid4(),
                owner="alice",
                correlation_id=uuid.uuid4(),
                input=REF,
                chain=[{"type": "gain"}],
            )
            await js.publish(command.subject, command.model_dump_json().encode(), stream="EFFECTS")
        worker = await js.pull_subscribe_bind("effects", "EFFECTS")
        taken = await worker.fetch(2, timeout=5)  # two in progress, not acknowledged
        assert len(taken) == 2
        assert await export_consumer_lag(js, ALL_STREAMS) == 1
        assert PENDING.labels(EFFECTS.name, "effects")._value.get() == 3
        assert ACK_PENDING.labels(EFFECTS.name, "effects")._value.get() == 2
        await taken[0].ack_sync()
        await export_consumer_lag(js, ALL_STREAMS)
        assert ACK_PENDING.labels(EFFECTS.name, "effects")._value.get() == 1
    finally:
        await nc.close()
