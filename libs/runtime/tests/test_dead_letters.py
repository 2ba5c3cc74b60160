"""Against a real nats-server: a command whose deliveries all go unanswered (its worker
crashes each time) reaches max deliveries; the advisory is kept in ADVISORIES, the command
is copied into DEADLETTERS with its origin, and its job gets a failure with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig

from cadenza.contracts import ArtifactRef, EffectsRequested
from cadenza.contracts.jobs import StageDeadLettered
from cadenza.contracts.streams import ADVISORIES, ALL_STREAMS, DEAD_LETTERS, OPERATIONS_STREAMS
from cadenza.devstack.nats import NatsServer
from cadenza.runtime.bus import ensure_streams
from cadenza.runtime.dead_letters import Advisory, keep_dead_letter

REF = ArtifactRef(uri="file:///nowhere", media_type="audio/wav", bytes=1, sha256="0" * 64)


async def test_a_command_nobody_finishes_becomes_a_dead_letter_and_a_failed_job(
    fresh_nats: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, ALL_STREAMS + OPERATIONS_STREAMS)
        await js.add_consumer(
            "EFFECTS",
            ConsumerConfig(
                durable_name="effects",
                filter_subject="effects.requested",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=0.5,
                max_deliver=2,
            ),
        )
        command = EffectsRequested(
            job_id=uuid.uuid4(),
            owner="alice",
            correlation_id=uuid.uuid4(),
            input=REF,
            chain=[{"type": "gain"}],
        )
        await js.publish(command.subject, command.model_dump_json().encode(), stream="EFFECTS")
        worker = await js.pull_subscribe_bind("effects", "EFFECTS")
        for _ in range(2):  # two deliveries, and the "worker" dies before acking each
            [msg] = await worker.fetch(1, timeout=5)
            assert msg.metadata.num_delivered <= 2
        await asyncio.sleep(1.0)
        # The worker (restarted) asks again; the server would deliver a third time, which is
        # over the limit: it sends the advisory instead.
        with contextlib.suppress(nats.errors.TimeoutError):
            await worker.fetch(1, timeout=1)

        advisories = await js.pull_subscribe(
            ADVISORIES.subjects[0], durable="test-keeper", stream=ADVISORIES.name
        )
        [notice] = await advisories.fetch(1, timeout=5)
        advisory = Advisory.parse(notice.data)
        assert (advisory.stream, advisory.consumer, advisory.deliveries) == (
            "EFFECTS",
            "effects",
            2,
        )

        failure = await keep_dead_letter(js, advisory)
        assert isinstance(failure, StageDeadLettered)
        assert failure.job_id == command.job_id and failure.owner == "alice"
        assert failure.stage == "effects" and failure.code == "dead_letter"
        assert "delivered 2 times and never finished" in failure.reason
        assert failure.original_subject == "effects.requested"

        kept = await js.get_msg(DEAD_LETTERS.name, failure.dead_letter_seq)
        assert json.loads(kept.data or b"")["job_id"] == str(command.job_id)
        assert kept.headers is not None
        assert kept.headers["Cadenza-Stream"] == "EFFECTS"
        assert kept.headers["Cadenza-Subject"] == "effects.requested"

        again = await keep_dead_letter(js, advisory)  # the keeper crashed and saw it twice
        assert again is not None and again.event_id == failure.event_id
        info = await js.stream_info(DEAD_LETTERS.name)
        assert info.state.messages == 1, "the copy is deduplicated"
    finally:
        await nc.close()
