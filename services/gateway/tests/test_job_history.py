"""One source of truth for a job's state: what a WebSocket is told, the projection has
already recorded, so a REST read (the job, its history) right after a socket message agrees
with it — even while the projection's own durable consumer is not running."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import nats

from cadenza.contracts import ArtifactRef
from cadenza.contracts.consumers import PROJECTION_CONSUMERS
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobProgress, JobSubmitted
from cadenza.devstack.nats import NatsServer

from .conftest import running_gateway, settings

REF = ArtifactRef(uri="file:///s/a.wav", media_type="audio/wav", bytes=10, sha256="1" * 64)


async def test_a_read_after_a_socket_message_agrees_with_it(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, fresh_nats.url, tmp_path / "store", auth_mode="dev")
    async with running_gateway(config) as (services, api):
        # Only the live feed is left to record facts: the projection's consumers are gone
        # (on a NATS server of its own: a gateway started later would re-read the streams).
        connection = await nats.connect(fresh_nats.url)
        js = connection.jetstream()
        for consumer in PROJECTION_CONSUMERS:
            await js.delete_consumer(consumer.stream.name, consumer.durable)
        job_id = uuid.uuid4()
        submitted = JobSubmitted(
            job_id=job_id,
            owner="local",
            correlation_id=job_id,
            kind="effects",
            input={"upload_id": str(uuid.uuid4())},
            params={},
            stages=["effects"],
        )
        await services.projection.apply(submitted)
        # Heard before anyone watched: recorded when a socket subscribes.
        early = JobProgress.caused_by(submitted, stage="effects", progress=0.5)
        services.job_feed.publish(early)
        socket: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        assert await services.job_feed.subscribe("local", job_id, socket)
        assert (await socket.get())["type"] == "job.snapshot"
        history = (await api.get(f"/api/v1/jobs/{job_id}/events")).json()["events"]
        assert str(early.event_id) in {e["event"]["event_id"] for e in history}

        done = EffectsCompleted.caused_by(submitted, stage="effects", outputs={"a.wav": REF})
        await js.publish(
            done.subject,
            done.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(done.event_id)},
        )
        message = await asyncio.wait_for(socket.get(), 10)
        while message["type"] != "job.completed":
            message = await asyncio.wait_for(socket.get(), 10)
        # No wait between the socket's message and the reads.
        job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
        history = (await api.get(f"/api/v1/jobs/{job_id}/events")).json()["events"]
        assert job["status"] == "completed"
        assert [a["name"] for a in job["artifacts"]] == ["a.wav"]
        subjects = [e["subject"] for e in history]
        assert subjects == ["job.submitted", "job.progress", "effects.completed"]
        assert history[-1]["event"]["event_id"] == str(done.event_id)

        # Another owner's events for the same id are not pushed to this owner's socket.
        stranger = EffectsCompleted(
            job_id=job_id,
            owner="mallory",
            correlation_id=job_id,
            stage="effects",
            outputs={"b.wav": REF},
        )
        await js.publish(
            stranger.subject,
            stranger.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(stranger.event_id)},
        )
        await asyncio.sleep(0.3)
        assert socket.empty()
        await connection.close()
