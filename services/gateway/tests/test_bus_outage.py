"""A job submitted while NATS does not answer (the gateway in-process, real servers): a 503
with Retry-After where the gateway cannot check the request, and a 202 where it can (the
models it knew, the events kept in the outbox) — never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import write_tone
from cadenza.gateway.app import create_app
from cadenza.gateway.settings import Settings


def _job(upload_id: str) -> dict[str, object]:
    chain = [{"type": "gain", "gain_db": -3}]
    return {"kind": "effects", "input": {"upload_id": upload_id}, "params": {"chain": chain}}


async def test_a_submit_while_nats_is_away_is_a_503_or_kept_never_a_500(
    fresh_nats: NatsServer, fresh_database: str, tmp_path: Path
) -> None:
    app = create_app(
        Settings(
            database_url=fresh_database,
            nats_url=fresh_nats.url,
            storage_dir=tmp_path / "artifacts",
            auth_mode="dev",
        )
    )
    tone = write_tone(tmp_path / "tone.wav", 1.0)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=30
        ) as api,
    ):
        made = await api.post("/api/v1/uploads", files={"file": ("t.wav", tone.read_bytes())})
        assert made.status_code == 201, made.text
        job = _job(made.json()["id"])

        # The separation models a job is checked against have never been read: no answer.
        await asyncio.to_thread(fresh_nats.stop)
        refused = await api.post("/api/v1/jobs", json=job, headers={"Idempotency-Key": "a"})
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"].startswith("the event bus is unavailable")
        assert refused.headers["Retry-After"] == "5"

        await asyncio.to_thread(fresh_nats.start)
        for _ in range(100):  # reconnects within a couple of seconds
            again = await api.post("/api/v1/jobs", json=job, headers={"Idempotency-Key": "a"})
            if again.status_code == 202:
                break
            await asyncio.sleep(0.2)
        assert again.status_code == 202, again.text

        # Read once: what the registry said stands while NATS is away, and the outbox keeps
        # the job's events until it is back.
        await asyncio.to_thread(fresh_nats.stop)
        kept = await api.post("/api/v1/jobs", json=job, headers={"Idempotency-Key": "b"})
        assert kept.status_code == 202, kept.text
        await asyncio.to_thread(fresh_nats.start)
