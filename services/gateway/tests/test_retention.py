"""Retention against real PostgreSQL, NATS and storage: files, job records and uploads past
their ages go (each removal an event and a metric), pinned things and catalog songs stay,
and afterwards no record points at a missing file and no file is left without a record."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.aio.msg import Msg

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobSubmitted
from cadenza.contracts.streams import JOBS
from cadenza.devstack.nats import NatsServer
from cadenza.gateway import repository
from cadenza.gateway.replay import stream_messages
from cadenza.gateway.services import Services
from cadenza.runtime.storage import ObjectStore

from .conftest import running_gateway, settings

OWNER = "local"


async def _finished_job(services: Services, tmp: Path, name: str) -> uuid.UUID:
    """A finished effects job with one artifact in storage, straight into the projection."""
    job_id = uuid.uuid4()
    submitted = JobSubmitted(
        job_id=job_id,
        owner=OWNER,
        correlation_id=job_id,
        kind="effects",
        input={"upload_id": str(uuid.uuid4())},
        params={},
        stages=["effects"],
    )
    source = tmp / f"{name}.wav"
    source.write_bytes(os.urandom(2048))
    stored = await services.store.put_file(f"{OWNER}/{job_id}/processed.wav", source, "audio/wav")
    ref = ArtifactRef(
        uri=stored.uri, media_type="audio/wav", bytes=stored.bytes, sha256=stored.sha256
    )
    done = EffectsCompleted.caused_by(submitted, stage="effects", outputs={"processed.wav": ref})
    for event in (submitted, done):
        await services.bus.publish(event)
        await services.projection.apply(event)
    return job_id


async def _upload(services: Services, tmp: Path) -> uuid.UUID:
    upload_id = uuid.uuid4()
    source = tmp / f"{upload_id}.wav"
    source.write_bytes(os.urandom(1024))
    stored = await services.store.put_file(
        f"{OWNER}/uploads/{upload_id}/source", source, "audio/wav"
    )
    await repository.insert_upload(
        services.pool,
        repository.Upload(
            id=upload_id,
            owner=OWNER,
            filename="a.wav",
            media_type="audio/wav",
            format="wav",
            bytes=stored.bytes,
            sha256=stored.sha256,
            duration_s=1.0,
            sample_rate=44100,
            channels=2,
            uri=stored.uri,
            created_at=datetime.now(UTC),
        ),
    )
    return upload_id


async def _age(
    pool: asyncpg.Pool, table: str, column: str, ids: list[uuid.UUID], days: float
) -> None:
    await pool.execute(
        f"UPDATE {table} SET {column} = now() - make_interval(days => $2)"
        " WHERE id = ANY($1::uuid[])",
        ids,
        days,
    )


async def _store_keys(store: ObjectStore) -> set[str]:
    return {o.key async for o in store.list_objects()}


async def test_retention_removes_what_is_old_keeps_what_is_pinned_and_agrees_with_storage(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path / "store", auth_mode="dev")
    async with running_gateway(config) as (services, api):
        pool, store = services.pool, services.store
        files_old = await _finished_job(services, tmp_path, "a")  # 2 days: files go
        pinned = await _finished_job(services, tmp_path, "b")  # 30 days but pinned
        record_old = await _finished_job(services, tmp_path, "c")  # 8 days: record goes
        fresh = await _finished_job(services, tmp_path, "d")  # just now: all stays
        assert (await api.post(f"/api/v1/jobs/{pinned}/pin")).json()["pinned"] is True
        await _age(pool, "jobs", "finished_at", [files_old], 2)
        await _age(pool, "jobs", "finished_at", [pinned], 30)
        await _age(pool, "jobs", "finished_at", [record_old], 8)

        old_upload = await _upload(services, tmp_path)
        kept_upload = await _upload(services, tmp_path)
        young_upload = await _upload(services, tmp_path)
        await api.post(f"/api/v1/uploads/{kept_upload}/pin")
        await _age(pool, "uploads", "created_at", [old_upload, kept_upload], 2)

        # Files without records: an old stray under a job id nobody knows, a young one (a
        # worker still writing), and catalog songs (never retention's).
        stray = tmp_path / "stray.bin"
        stray.write_bytes(b"x" * 100)
        old_orphan = f"{OWNER}/{uuid.uuid4()}/processed.wav"
        young_orphan = f"{OWNER}/{uuid.uuid4()}/processed.wav"
        song = f"{OWNER}/songs/{uuid.uuid4()}/midi"
        for key in (old_orphan, young_orphan, song):
            await store.put_file(key, stray, "application/octet-stream")
        two_days_ago = time.time() - 2 * 86400
        os.utime(config.storage_dir / old_orphan, (two_days_ago, two_days_ago))
        os.utime(config.storage_dir / song, (two_days_ago, two_days_ago))

        # A session signed out two days ago: its refresh tokens can never be used again.
        password = {"email": "old@example.com", "password": "long enough password"}
        await api.post("/api/v1/auth/register", json=password)
        token = (await api.post("/api/v1/auth/login", json=password)).json()["access_token"]
        await api.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
        await pool.execute("UPDATE sessions SET revoked_at = now() - interval '2 days'")

        swept = (await api.post("/api/v1/admin/retention/run")).json()
        assert swept == {
            "artifacts": 2,  # the 8-day-old job's files went first, then its record
            "job": 1,
            "upload": 1,
            "orphan": 1,
            "bytes_freed": 2048 * 2 + 1024 + 100,
            "sessions": 1,
        }
        again = (await api.post("/api/v1/admin/retention/run")).json()
        assert again == {
            "artifacts": 0,
            "job": 0,
            "upload": 0,
            "orphan": 0,
            "bytes_freed": 0,
            "sessions": 0,
        }

        expired = (await api.get(f"/api/v1/jobs/{files_old}")).json()
        assert expired["status"] == "completed" and expired["artifacts"] == []
        assert expired["artifacts_expired_at"] is not None
        gone = await api.get(f"/api/v1/jobs/{files_old}/artifacts/processed.wav")
        assert gone.status_code == 410
        assert "removed by retention" in gone.json()["detail"]
        assert (await api.get(f"/api/v1/jobs/{record_old}")).status_code == 404
        for kept in (pinned, fresh):
            job = (await api.get(f"/api/v1/jobs/{kept}")).json()
            assert [a["name"] for a in job["artifacts"]] == ["processed.wav"]
            assert (
                await api.get(f"/api/v1/jobs/{kept}/artifacts/processed.wav")
            ).status_code == 200
        assert (await api.get(f"/api/v1/uploads/{old_upload}")).status_code == 404
        for upload in (kept_upload, young_upload):
            assert (await api.get(f"/api/v1/uploads/{upload}")).status_code == 200

        keys = await _store_keys(store)
        assert f"{OWNER}/{files_old}/processed.wav" not in keys
        assert f"{OWNER}/{record_old}/processed.wav" not in keys
        assert f"{OWNER}/uploads/{old_upload}/source" not in keys
        assert old_orphan not in keys
        assert {young_orphan, song} <= keys

        # Storage and database agree: every recorded artifact and upload is stored...
        referenced: set[str] = set()
        for row in await pool.fetch("SELECT artifacts FROM jobs"):
            refs: dict[str, dict[str, Any]] = row["artifacts"]
            referenced |= {store.key_for(r["uri"]) for r in refs.values()}
        referenced |= {store.key_for(r["uri"]) for r in await pool.fetch("SELECT uri FROM uploads")}
        assert referenced <= keys
        # ...and every stored file is recorded, young, or the catalog's.
        assert keys - referenced == {young_orphan, song}

        metrics = (await api.get("/metrics")).text
        assert 'cadenza_retention_removed_total{what="artifacts"}' in metrics

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        removals = [
            m async for m in stream_messages(js, JOBS) if m.subject == "job.retention_removed"
        ]
        ids = {uuid.UUID(json.loads(m.data)["job_id"]) for m in removals}
        assert {files_old, record_old, old_upload} <= ids
    finally:
        await nc.close()


async def test_two_replicas_remove_each_thing_once_and_sweep_once_per_interval(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    """Two gateway replicas on one database, bus and store: swept at the same moment, each
    expired job is removed once (one event each on the wire, where JetStream's dedup does
    not reach); the scheduled sweep runs on one replica per interval."""
    config = settings(fresh_database, nats_server.url, tmp_path / "store", auth_mode="dev")
    nc = await nats.connect(nats_server.url)
    heard: list[tuple[uuid.UUID, str]] = []

    async def hear(msg: Msg) -> None:
        body = json.loads(msg.data)
        heard.append((uuid.UUID(body["job_id"]), body["what"]))

    await nc.subscribe("job.retention_removed", cb=hear)
    try:
        async with running_gateway(config) as (a, _), running_gateway(config) as (b, _):
            old = [await _finished_job(a, tmp_path, f"old-{i}") for i in range(6)]
            await _age(a.pool, "jobs", "finished_at", old, 8)
            swept = await asyncio.gather(a.retention.sweep(), b.retention.sweep())
            assert sum(s.get("job", 0) for s in swept) == len(old)
            await nc.flush()
            await asyncio.sleep(0.3)
            mine = sorted(h for h in heard if h[0] in set(old))
            assert mine == sorted((j, what) for j in old for what in ("artifacts", "job"))

            assert await a.retention.sweep_if_due(600) is not None
            assert await b.retention.sweep_if_due(600) is None, "a swept within the interval"
            assert await a.retention.sweep_if_due(600) is None
            await a.pool.execute("UPDATE background_runs SET started_at = now() - interval '10m'")
            assert await b.retention.sweep_if_due(600) is not None
    finally:
        await nc.close()
