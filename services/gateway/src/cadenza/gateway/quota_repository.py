"""SQL of the storage ledger and the per-account quotas (migration 0006)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg


async def lock_account(conn: asyncpg.Connection, owner: str) -> None:
    """Serialise quota decisions of one account until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('quota:' || $1))", owner)


async def use(conn: asyncpg.Connection | asyncpg.Pool, owner: str) -> tuple[int, int, int]:
    """(bytes stored, bytes reserved by its queued and running jobs, those jobs) of an
    account, in one query."""
    row = await conn.fetchrow(
        "SELECT"
        " (SELECT coalesce(sum(bytes), 0) FROM stored_files WHERE owner = $1) AS stored,"
        " coalesce(sum(reserved_bytes), 0) AS reserved, count(*) AS active"
        " FROM jobs WHERE owner = $1 AND status IN ('queued', 'running')",
        owner,
    )
    return int(row["stored"]), int(row["reserved"]), int(row["active"])


async def reserve(conn: asyncpg.Connection, job_id: uuid.UUID, size: int) -> None:
    await conn.execute("UPDATE jobs SET reserved_bytes = $2 WHERE id = $1", job_id, size)


async def record_files(
    conn: asyncpg.Connection | asyncpg.Pool,
    owner: str,
    job_id: uuid.UUID | None,
    files: Iterable[tuple[str, int]],
) -> None:
    """Count these (uri, bytes) against the owner; a file already counted is left as is."""
    rows = [(uri, owner, size, job_id) for uri, size in files]
    if rows:
        await conn.executemany(
            "INSERT INTO stored_files (uri, owner, bytes, job_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (uri) DO NOTHING",
            rows,
        )


async def forget_files(conn: asyncpg.Connection | asyncpg.Pool, uris: Iterable[str]) -> None:
    """The files are gone from storage: they no longer count."""
    listed = list(uris)
    if listed:
        await conn.execute("DELETE FROM stored_files WHERE uri = ANY($1::text[])", listed)
