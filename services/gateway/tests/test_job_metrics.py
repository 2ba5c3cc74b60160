"""The gateway's job metrics: submissions by kind, endings by kind and status, and the
end-to-end time, counted once per job as the projection folds the events."""

from __future__ import annotations

import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobSubmitted
from cadenza.devstack.nats import NatsServer

from .conftest import running_gateway, settings


def sample(metrics: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_jobs_are_counted_once_when_submitted_and_when_they_end(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with running_gateway(config) as (services, api):
        kind = f"effects-{uuid.uuid4().hex[:6]}"  # its own label: other tests do not count
        before = (await api.get("/metrics")).text
        job_id = uuid.uuid4()
        submitted = JobSubmitted(
            job_id=job_id,
            owner="local",
            correlation_id=job_id,
            kind=kind,
            input={},
            params={},
            stages=["effects"],
        )
        ref = ArtifactRef(uri="file:///x", media_type="audio/wav", bytes=1, sha256="0" * 64)
        done = EffectsCompleted.caused_by(submitted, stage="effects", outputs={"out.wav": ref})
        for event in (submitted, done, done):  # the fact redelivered: counted once
            await services.projection.apply(event)
        after = (await api.get("/metrics")).text
        assert sample(after, "cadenza_jobs_submitted_total", kind=kind) == 1
        assert sample(before, "cadenza_jobs_submitted_total", kind=kind) == 0
        assert sample(after, "cadenza_jobs_finished_total", kind=kind, status="completed") == 1
        assert (
            sample(after, "cadenza_job_end_to_end_seconds_count", kind=kind, status="completed")
            == 1
        )
