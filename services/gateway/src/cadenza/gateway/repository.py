"""SQL for uploads and the jobs projection. Every read is scoped by owner: a job is read by
its owner, or by a member of the project it was started in (`VISIBLE`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from cadenza.contracts.envelope import Event
from cadenza.gateway import quota_repository
from cadenza.gateway.cursors import keyset_cursor, keyset_position
from cadenza.gateway.job_state import JobState, StageState

JOB_COLUMNS = (
    "id, owner, kind, status, progress, stages, input, params, artifacts, error,"
    " idempotency_key, created_at, updated_at, finished_at, pinned, artifacts_expired_at,"
    " deleted_at, project_id"
)
# A job `$2` may read: its own, or one of a project it is a member of.
VISIBLE = (
    "(owner = $2 OR project_id IN (SELECT project_id FROM project_members WHERE account_id = $2))"
)


def job_from_row(row: asyncpg.Record) -> JobState:
    return JobState(
        id=row["id"],
        owner=row["owner"],
        kind=row["kind"],
        status=row["status"],
        progress=row["progress"],
        stages=tuple(StageState(**s) for s in row["stages"]),
        input=row["input"],
        params=row["params"],
        artifacts=row["artifacts"],
        error=row["error"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        pinned=row["pinned"],
        artifacts_expired_at=row["artifacts_expired_at"],
        deleted_at=row["deleted_at"],
        project_id=row["project_id"],
    )


async def insert_job(conn: asyncpg.Connection, job: JobState) -> bool:
    result = await conn.execute(
        f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        " ON CONFLICT DO NOTHING",
        job.id,
        job.owner,
        job.kind,
        job.status,
        job.progress,
        [s.as_dict() for s in job.stages],
        job.input,
        job.params,
        job.artifacts,
        job.error,
        job.idempotency_key,
        job.created_at,
        job.updated_at,
        job.finished_at,
        job.pinned,
        job.artifacts_expired_at,
        job.deleted_at,
        job.project_id,
    )
    return bool(result.endswith(" 1"))


async def update_job(conn: asyncpg.Connection, job: JobState) -> None:
    await conn.execute(
        "UPDATE jobs SET status = $2, progress = $3, stages = $4, artifacts = $5, error = $6,"
        " updated_at = $7, finished_at = $8, pinned = $9, artifacts_expired_at = $10,"
        " deleted_at = $11 WHERE id = $1",
        job.id,
        job.status,
        job.progress,
        [s.as_dict() for s in job.stages],
        job.artifacts,
        job.error,
        job.updated_at,
        job.finished_at,
        job.pinned,
        job.artifacts_expired_at,
        job.deleted_at,
    )


async def record_event(conn: asyncpg.Connection, event: Event) -> bool:
    """Record an event of the projection once (keyed by its id); False if it already was."""
    recorded = await conn.fetchval(
        "INSERT INTO job_events (event_id, job_id, subject, occurred_at, payload)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING"
        " RETURNING event_id",
        event.event_id,
        event.job_id,
        event.subject,
        event.occurred_at,
        event.model_dump(mode="json"),
    )
    return recorded is not None


async def other_events(
    conn: asyncpg.Connection, job_id: uuid.UUID, except_event: uuid.UUID
) -> list[asyncpg.Record]:
    """(subject, payload) of the job's recorded events but one, in the order they happened."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT subject, payload FROM job_events WHERE job_id = $1 AND event_id <> $2"
        " ORDER BY occurred_at",
        job_id,
        except_event,
    )
    return rows


async def delete_job_record(conn: asyncpg.Connection, job_id: uuid.UUID) -> None:
    """A job's row and its recorded history, gone."""
    await conn.execute("DELETE FROM jobs WHERE id = $1", job_id)
    await conn.execute("DELETE FROM job_events WHERE job_id = $1", job_id)


async def ping(pool: asyncpg.Pool) -> None:
    await pool.fetchval("SELECT 1")


async def lock_job(conn: asyncpg.Connection, job_id: uuid.UUID) -> JobState | None:
    row = await conn.fetchrow(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE", job_id)
    return job_from_row(row) if row else None


async def get_job(pool: asyncpg.Pool, owner: str, job_id: uuid.UUID) -> JobState | None:
    """The job if `owner` may read it (see VISIBLE)."""
    row = await pool.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND {VISIBLE} AND deleted_at IS NULL",
        job_id,
        owner,
    )
    return job_from_row(row) if row else None


async def job_history(
    pool: asyncpg.Pool, owner: str, job_id: uuid.UUID
) -> list[asyncpg.Record] | None:
    """(subject, occurred_at, payload) of each recorded event of the owner's job, oldest
    first; None when the owner has no such job."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        if not await conn.fetchval(
            f"SELECT true FROM jobs WHERE id = $1 AND {VISIBLE} AND deleted_at IS NULL",
            job_id,
            owner,
        ):
            return None
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT subject, occurred_at, payload FROM job_events WHERE job_id = $1"
            " ORDER BY occurred_at, event_id",
            job_id,
        )
        return rows


async def job_for_key(pool: asyncpg.Pool, owner: str, key: str) -> tuple[uuid.UUID, bool] | None:
    """The job an Idempotency-Key made, and whether its owner has deleted it."""
    row = await pool.fetchrow(
        "SELECT id, deleted_at IS NOT NULL AS deleted FROM jobs"
        " WHERE owner = $1 AND idempotency_key = $2",
        owner,
        key,
    )
    return (row["id"], row["deleted"]) if row else None


async def submitted_digest(pool: asyncpg.Pool, job_id: uuid.UUID) -> str | None:
    """The request fingerprint recorded with the job's submission (None for jobs from
    before fingerprints were recorded)."""
    value = await pool.fetchval(
        "SELECT payload->>'request_sha256' FROM job_events"
        " WHERE job_id = $1 AND subject = 'job.submitted'",
        job_id,
    )
    return value if isinstance(value, str) else None


async def list_jobs(
    pool: asyncpg.Pool,
    owner: str,
    limit: int,
    cursor: str | None,
    project_id: uuid.UUID | None = None,
) -> tuple[list[JobState], str | None]:
    """Newest first; returns a page and the cursor of the next one (None at the end): the
    owner's jobs, or those of a project (the caller checked it is a member)."""
    args: list[Any] = [owner if project_id is None else project_id, limit + 1]
    where = ("owner = $1" if project_id is None else "project_id = $1") + " AND deleted_at IS NULL"
    if cursor:
        created, job_id = keyset_position(cursor)
        where += " AND (created_at, id) < ($3, $4)"
        args += [created, job_id]
    rows = await pool.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT $2",
        *args,
    )
    jobs = [job_from_row(r) for r in rows[:limit]]
    next_cursor = keyset_cursor(jobs[-1].created_at, jobs[-1].id) if len(rows) > limit else None
    return jobs, next_cursor


@dataclass(frozen=True)
class Upload:
    id: uuid.UUID
    owner: str
    filename: str
    media_type: str
    format: str
    bytes: int
    sha256: str
    duration_s: float
    sample_rate: int
    channels: int
    uri: str
    created_at: datetime
    # Uploaded into a project: its members see it (and may use it in their jobs).
    project_id: uuid.UUID | None = None


UPLOAD_COLUMNS = (
    "id, owner, filename, media_type, format, bytes, sha256, duration_s, sample_rate,"
    " channels, uri, created_at, project_id"
)


async def insert_upload(
    pool: asyncpg.Pool,
    upload: Upload,
    *,
    admit: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> None:
    """Record the upload and count its bytes against its owner, after `admit` (the quota
    check, which raises to refuse) in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        if admit is not None:
            await admit(conn)
        await _insert_upload(conn, upload)
        await quota_repository.record_files(conn, upload.owner, None, [(upload.uri, upload.bytes)])


async def delete_upload(pool: asyncpg.Pool, upload: Upload) -> None:
    """The upload's record, and its bytes no longer counted against its owner."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM uploads WHERE id = $1", upload.id)
        await quota_repository.forget_files(conn, [upload.uri])


async def _insert_upload(conn: asyncpg.Connection, upload: Upload) -> None:
    await conn.execute(
        f"INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        upload.id,
        upload.owner,
        upload.filename,
        upload.media_type,
        upload.format,
        upload.bytes,
        upload.sha256,
        upload.duration_s,
        upload.sample_rate,
        upload.channels,
        upload.uri,
        upload.created_at,
        upload.project_id,
    )


async def get_upload(pool: asyncpg.Pool, owner: str, upload_id: uuid.UUID) -> Upload | None:
    """The upload if `owner` may read it: its own, or one of a project it is a member of."""
    row = await pool.fetchrow(
        f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1 AND {VISIBLE}", upload_id, owner
    )
    return Upload(**dict(row)) if row else None


async def set_upload_pinned(
    pool: asyncpg.Pool, owner: str, upload_id: uuid.UUID, pinned: bool
) -> bool:
    """False when the owner has no such upload."""
    status = await pool.execute(
        "UPDATE uploads SET pinned = $3 WHERE id = $1 AND owner = $2", upload_id, owner, pinned
    )
    return str(status).endswith(" 1")
