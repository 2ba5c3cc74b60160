"""A project's shared mix in PostgreSQL (migration 0010): accepted updates, appended in order,
and a snapshot they are folded into every COMPACT_EVERY updates.

An append is decided under a per-project lock (a transaction-level advisory lock), so
appends to one project from any connection or gateway replica take their turn: each is
checked against the state that includes every update before it, and the seq order is the
commit order. What a read costs is bounded: a snapshot (≤ 1 MiB) and fewer than
COMPACT_EVERY updates (≤ 64 KiB each). The document's rules are shared_mix's; here is the
SQL and the order of things.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg

from cadenza.gateway import shared_mix

COMPACT_EVERY = 100


@dataclass(frozen=True)
class Appended:
    """An accepted update: its place in the project's sequence and the state it gave."""

    seq: int
    state: bytes


@dataclass(frozen=True)
class _Stored:
    snapshot: bytes | None
    snapshot_seq: int
    updates: list[bytes]
    last_seq: int


async def append(pool: asyncpg.Pool, project_id: uuid.UUID, update: bytes, actor: str) -> Appended:
    """Check a client's update against the current state and keep it; raises
    shared_mix.MixUpdateRejectedError (nothing written) when it is out of bounds."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock(conn, project_id)
        stored = await _read(conn, project_id)
        state = await asyncio.to_thread(_accept, stored, update)
        seq = stored.last_seq + 1
        await conn.execute(
            "INSERT INTO shared_mix_updates (project_id, seq, update, actor)"
            " VALUES ($1, $2, $3, $4)",
            project_id,
            seq,
            update,
            actor,
        )
        if seq - stored.snapshot_seq >= COMPACT_EVERY:
            await _save_snapshot(conn, project_id, state, seq)
    return Appended(seq, state)


async def read_state(pool: asyncpg.Pool, project_id: uuid.UUID) -> tuple[int, bytes]:
    """(the last accepted seq, the current state) of a project's mix; (0, the empty mix)
    when no one has edited it."""
    # One snapshot of the database: a compaction committing between the two reads would
    # otherwise hide the updates it folded.
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        stored = await _read(conn, project_id)
    state = await asyncio.to_thread(shared_mix.fold, stored.snapshot, stored.updates)
    return stored.last_seq, state


async def compact(pool: asyncpg.Pool, project_id: uuid.UUID) -> int:
    """Fold every update into the snapshot now; returns how many were folded."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock(conn, project_id)
        stored = await _read(conn, project_id)
        if not stored.updates:
            return 0
        state = await asyncio.to_thread(shared_mix.fold, stored.snapshot, stored.updates)
        await _save_snapshot(conn, project_id, state, stored.last_seq)
    return len(stored.updates)


async def pending_updates(pool: asyncpg.Pool, project_id: uuid.UUID) -> int:
    """How many updates are not folded into the snapshot yet."""
    count: int = await pool.fetchval(
        "SELECT count(*) FROM shared_mix_updates WHERE project_id = $1", project_id
    )
    return count


def _accept(stored: _Stored, update: bytes) -> bytes:
    return shared_mix.apply_update(shared_mix.fold(stored.snapshot, stored.updates), update)


async def _lock(conn: asyncpg.Connection, project_id: uuid.UUID) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('shared_mix:' || $1::uuid::text))", project_id
    )


async def _read(conn: asyncpg.Connection, project_id: uuid.UUID) -> _Stored:
    snapshot = await conn.fetchrow(
        "SELECT state, up_to_seq FROM shared_mix_snapshots WHERE project_id = $1", project_id
    )
    snapshot_seq = snapshot["up_to_seq"] if snapshot else 0
    rows = await conn.fetch(
        "SELECT seq, update FROM shared_mix_updates WHERE project_id = $1 AND seq > $2"
        " ORDER BY seq",
        project_id,
        snapshot_seq,
    )
    return _Stored(
        snapshot=bytes(snapshot["state"]) if snapshot else None,
        snapshot_seq=snapshot_seq,
        updates=[bytes(r["update"]) for r in rows],
        last_seq=rows[-1]["seq"] if rows else snapshot_seq,
    )


async def _save_snapshot(
    conn: asyncpg.Connection, project_id: uuid.UUID, state: bytes, seq: int
) -> None:
    await conn.execute(
        "INSERT INTO shared_mix_snapshots (project_id, state, up_to_seq) VALUES ($1, $2, $3)"
        " ON CONFLICT (project_id) DO UPDATE"
        " SET state = excluded.state, up_to_seq = excluded.up_to_seq, at = now()",
        project_id,
        state,
        seq,
    )
    await conn.execute(
        "DELETE FROM shared_mix_updates WHERE project_id = $1 AND seq <= $2", project_id, seq
    )
