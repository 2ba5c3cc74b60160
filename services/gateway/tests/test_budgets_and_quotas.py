"""Budgets before work and quotas per account, through the API against real servers: a job
over a limit is refused naming the parameter, nothing is queued or stored for it; an
account past its storage or its jobs at once is refused with a sentence; /auth/me says where
it stands; the commands carry the job's limits to the workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import write_tone
from cadenza.gateway.services import Services

from .conftest import running_gateway, settings


async def _upload(api: httpx.AsyncClient, tmp_path: Path) -> dict[str, Any]:
    path = write_tone(tmp_path / "tone.wav", 1.0)
    response = await api.post("/api/v1/uploads", files={"file": ("tone.wav", path.read_bytes())})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _pretend(services: Services, upload_id: str, seconds: float, rate: int, ch: int) -> None:
    """Make the recorded upload say it is this long (the budget reads the record)."""
    await services.pool.execute(
        "UPDATE uploads SET duration_s = $2, sample_rate = $3, channels = $4 WHERE id = $1::uuid",
        upload_id,
        seconds,
        rate,
        ch,
    )


def _effects(upload_id: str, chain: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    return {
        "kind": "effects",
        "input": {"upload_id": upload_id},
        "params": {"chain": chain, **params},
    }


async def test_jobs_over_their_budget_are_refused_naming_the_parameter(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with running_gateway(config) as (services, api):
        upload = await _upload(api, tmp_path)
        # Four hours of 768 kHz, 8 channels: 32-bit WAV would be about 330 GiB.
        await _pretend(services, upload["id"], 4 * 3600, 768_000, 8)
        big = await api.post(
            "/api/v1/jobs", json=_effects(upload["id"], [{"type": "gain"}], bit_depth=32)
        )
        assert big.status_code == 422, big.text
        (problem,) = big.json()["errors"]
        assert problem["field"] == "params.format"
        assert "over the limit of 2.0 GiB per job" in problem["message"]

        # A 30 s delay at 768 kHz in 8 channels: 737 MB of delay line.
        await _pretend(services, upload["id"], 10, 768_000, 8)
        delay = await api.post(
            "/api/v1/jobs",
            json=_effects(
                upload["id"],
                [{"type": "gain"}, {"type": "delay", "delay_seconds": 30}],
                bit_depth=16,
            ),
        )
        assert delay.status_code == 422, delay.text
        fields = [p["field"] for p in delay.json()["errors"]]
        assert "params.chain.1" in fields
        assert "working memory" in delay.text and "its delay at position 1" in delay.text

        # Thirty-two pitch shifts at 192 kHz: more CPU time than 4 s per audio second.
        await _pretend(services, upload["id"], 3600, 192_000, 2)
        heavy = await api.post(
            "/api/v1/jobs",
            json=_effects(upload["id"], [{"type": "pitch_shift", "semitones": 3}] * 32),
        )
        assert heavy.status_code == 422, heavy.text
        assert heavy.json()["errors"][0]["field"] == "params.chain"
        assert "of CPU time" in heavy.json()["errors"][0]["message"]

        # Nothing was accepted: no job row, nothing reserved.
        listed = await api.get("/api/v1/jobs")
        assert listed.json()["items"] == []
        me = (await api.get("/api/v1/auth/me")).json()
        assert me["storage"]["reserved_bytes"] == 0 and me["jobs"]["active"] == 0


async def test_accepted_jobs_reserve_storage_and_carry_their_limits(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with running_gateway(config) as (services, api):
        upload = await _upload(api, tmp_path)
        await _pretend(services, upload["id"], 60, 44_100, 2)
        job = await api.post("/api/v1/jobs", json=_effects(upload["id"], [{"type": "gain"}]))
        assert job.status_code == 202, job.text
        me = (await api.get("/api/v1/auth/me")).json()
        # 60 s × 44.1 kHz × 2 channels × 3 bytes (24-bit WAV) reserved until the job ends.
        assert me["storage"]["reserved_bytes"] == 60 * 44_100 * 2 * 3
        assert me["storage"]["stored_bytes"] == upload["bytes"]
        assert me["jobs"] == {"active": 1, "max_active": 4}
        staged = await services.pool.fetchval(
            "SELECT payload FROM outbox WHERE subject = 'effects.requested'"
        )
        command = json.loads(staged) if isinstance(staged, str) else staged
        assert command["limits"]["max_output_bytes"] == 2 << 30
        assert command["limits"]["max_memory_bytes"] == 512 << 20
        assert command["limits"]["cpu_seconds_per_audio_second"] == 4.0


async def test_an_account_past_its_quotas_is_refused_and_others_are_not(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path,
        auth_mode="dev",
        storage_quota_bytes=2_000_000,
        max_active_jobs=2,
    )
    async with running_gateway(config) as (services, api):
        upload = await _upload(api, tmp_path)
        await _pretend(services, upload["id"], 1, 44_100, 2)
        codes = [
            (
                await api.post("/api/v1/jobs", json=_effects(upload["id"], [{"type": "gain"}]))
            ).status_code
            for _ in range(3)
        ]
        assert codes == [202, 202, 429]
        busy = await api.post("/api/v1/jobs", json=_effects(upload["id"], [{"type": "gain"}]))
        assert "jobs queued or running" in busy.json()["detail"]
        assert busy.headers["retry-after"] == "5"
        # Storage: a job that would write past what is left is refused with the figures.
        await services.pool.execute("UPDATE jobs SET status = 'completed'")
        await _pretend(services, upload["id"], 30, 44_100, 2)
        full = await api.post("/api/v1/jobs", json=_effects(upload["id"], [{"type": "gain"}]))
        assert full.status_code == 403, full.text
        assert "of your storage quota of 1.9 MiB is left" in full.json()["detail"]
        # An upload that does not fit is refused before it is stored.
        before = await services.pool.fetchval("SELECT count(*) FROM stored_files")
        path = write_tone(tmp_path / "long.wav", 12.0)
        refused = await api.post("/api/v1/uploads", files={"file": ("long.wav", path.read_bytes())})
        assert refused.status_code == 403, refused.text
        assert "storage quota" in refused.json()["detail"]
        assert await services.pool.fetchval("SELECT count(*) FROM stored_files") == before
        stored = [p for p in (tmp_path).rglob("*") if p.is_file() and "uploads" in p.parts]
        assert len(stored) == 1, "only the first upload is in storage"
        # What another account stores and runs does not count against this one.
        await services.pool.execute(
            "UPDATE stored_files SET owner = 'somebody-else'; UPDATE jobs SET owner = 'x'"
        )
        await _pretend(services, upload["id"], 1, 44_100, 2)
        fresh = await api.post("/api/v1/jobs", json=_effects(upload["id"], [{"type": "gain"}]))
        assert fresh.status_code == 202, fresh.text
