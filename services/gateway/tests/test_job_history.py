"""A job's history (GET /api/v1/jobs/{id}/events) agrees with what the WebSocket already
said: an event this gateway heard but the projection has not recorded yet is in it, once."""

from __future__ import annotations

import uuid
from pathlib import Path

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobSubmitted
from cadenza.devstack.nats import NatsServer

from .conftest import running_gateway, settings

REF = ArtifactRef(uri="file:///s/a.wav", media_type="audio/wav", bytes=10, sha256="1" * 64)


async def test_history_includes_heard_events_not_yet_recorded(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path / "store", auth_mode="dev")
    async with running_gateway(config) as (services, api):
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
        done = EffectsCompleted.caused_by(submitted, stage="effects", outputs={"a.wav": REF})
        # Heard on the live feed, not yet through the projection's consumer.
        services.hub.publish(done)

        job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
        history = (await api.get(f"/api/v1/jobs/{job_id}/events")).json()["events"]
        assert job["status"] == "completed"
        assert [e["subject"] for e in history] == ["job.submitted", "effects.completed"]
        assert history[1]["event"]["event_id"] == str(done.event_id)

        # Once recorded it is listed once, not twice.
        await services.projection.apply(done)
        history = (await api.get(f"/api/v1/jobs/{job_id}/events")).json()["events"]
        assert [e["subject"] for e in history] == ["job.submitted", "effects.completed"]

        # Another owner's events are not heard into this owner's history.
        stranger = EffectsCompleted(
            job_id=job_id,
            owner="mallory",
            correlation_id=job_id,
            stage="effects",
            outputs={"b.wav": REF},
        )
        services.hub.publish(stranger)
        history = (await api.get(f"/api/v1/jobs/{job_id}/events")).json()["events"]
        assert len(history) == 2
