"""SQL for retention: what is past its age, and removing what it removes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

SWEEP_LOCK = 0x5245_5445  # pg advisory lock: one sweep at a time across gateway replicas


@asynccontextmanager
async def sweep_lock(pool: asyncpg.Pool) -> AsyncIterator[bool]:
    """Whether this replica holds the sweep lock (False: another one is sweeping)."""
    async with pool.acquire() as conn:
        held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK))
        try:
            yield held
        finally:
            if held:
                await conn.execute("SELECT pg_advisory_unlock($1)", SWEEP_LOCK)


async def claim_run(pool: asyncpg.Pool, name: str, interval_s: float) -> bool:
    """Whether this replica is to run the scheduled duty `name` now: True (and the start
    recorded, in one statement) unless some replica started it within `interval_s`."""
    row = await pool.fetchval(
        "INSERT INTO background_runs (name, started_at) VALUES ($1, now())"
        " ON CONFLICT (name) DO UPDATE SET started_at = now()"
        " WHERE background_runs.started_at < now() - make_interval(secs => $2)"
        " RETURNING true",
        name,
        interval_s,
    )
    return bool(row)


async def jobs_with_old_artifacts(
    pool: asyncpg.Pool, age_s: float, limit: int
) -> list[asyncpg.Record]:
    """(id, owner, artifacts) of unpinned jobs that ended more than `age_s` ago and still
    have files."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT id, owner, artifacts FROM jobs WHERE NOT pinned AND artifacts <> '{}'"
        " AND artifacts_expired_at IS NULL"
        " AND finished_at < now() - make_interval(secs => $1) LIMIT $2",
        age_s,
        limit,
    )
    return rows


async def old_jobs(pool: asyncpg.Pool, age_s: float, limit: int) -> list[asyncpg.Record]:
    """(id, owner, artifacts) of unpinned jobs (deleted ones included) that ended more than
    `age_s` ago."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT id, owner, artifacts FROM jobs WHERE NOT pinned"
        " AND finished_at < now() - make_interval(secs => $1) LIMIT $2",
        age_s,
        limit,
    )
    return rows


async def old_uploads(pool: asyncpg.Pool, age_s: float, limit: int) -> list[asyncpg.Record]:
    """(id, owner, uri, bytes, filename) of unpinned uploads older than `age_s` that no
    queued or running job reads."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT u.id, u.owner, u.uri, u.bytes, u.filename FROM uploads u"
        " WHERE NOT u.pinned AND u.created_at < now() - make_interval(secs => $1)"
        " AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.status IN ('queued', 'running')"
        "   AND j.input->>'upload_id' = u.id::text)"
        " LIMIT $2",
        age_s,
        limit,
    )
    return rows


async def delete_upload(pool: asyncpg.Pool, upload_id: uuid.UUID) -> None:
    await pool.execute("DELETE FROM uploads WHERE id = $1", upload_id)


async def existing_uploads(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await pool.fetch("SELECT id FROM uploads WHERE id = ANY($1::uuid[])", ids)
    return {r["id"] for r in rows}


async def jobs_without_files(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
    """For each of `ids` that has a record: whether its files are meant to be gone
    (retention removed them, or its owner deleted the job)."""
    rows = await pool.fetch(
        "SELECT id, artifacts_expired_at IS NOT NULL OR deleted_at IS NOT NULL AS gone"
        " FROM jobs WHERE id = ANY($1::uuid[])",
        ids,
    )
    return {r["id"]: bool(r["gone"]) for r in rows}


async def forget_old_sessions(pool: asyncpg.Pool) -> int:
    """Sign-in sessions a day past their end (expired or revoked); how many went."""
    status = await pool.execute(
        "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'"
        " OR revoked_at < now() - interval '1 day'"
    )
    return int(status.split()[-1])
