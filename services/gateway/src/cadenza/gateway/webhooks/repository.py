"""The webhooks' SQL: subscriptions, and deliveries (the delivery log and the work queue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from cadenza.gateway.cursors import keyset_cursor, keyset_position

SUBSCRIPTION_COLUMNS = (
    "id, owner, url, event_types, job_id, description, secret, previous_secret,"
    " previous_expires_at, created_at"
)
DELIVERY_COLUMNS = (
    "id, subscription_id, event_id, event_type, job_id, status, attempts, next_attempt_at,"
    " last_status_code, last_error, created_at, delivered_at"
)


@dataclass(frozen=True)
class Subscription:
    id: uuid.UUID
    owner: str
    url: str
    event_types: tuple[str, ...]
    job_id: uuid.UUID | None
    description: str
    secret: str
    previous_secret: str | None
    previous_expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    job_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Due:
    """A delivery claimed for one attempt, with what that attempt needs."""

    id: uuid.UUID
    body: str
    attempts: int  # counting this one
    url: str
    keys: list[str]  # secrets to sign with (the current one first)


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(**{**dict(row), "event_types": tuple(row["event_types"])})


async def count_for(conn: asyncpg.Connection, owner: str) -> int:
    """How many webhooks `owner` has, with the account's webhook lock taken until the
    transaction ends (two requests at once cannot both take the last place)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('webhooks:' || $1))", owner)
    count: int = await conn.fetchval(
        "SELECT count(*) FROM webhook_subscriptions WHERE owner = $1", owner
    )
    return count


async def insert(conn: asyncpg.Connection, subscription: Subscription) -> None:
    await conn.execute(
        f"INSERT INTO webhook_subscriptions ({SUBSCRIPTION_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        subscription.id,
        subscription.owner,
        subscription.url,
        list(subscription.event_types),
        subscription.job_id,
        subscription.description,
        subscription.secret,
        subscription.previous_secret,
        subscription.previous_expires_at,
        subscription.created_at,
    )


async def list_for(
    pool: asyncpg.Pool, owner: str, limit: int, cursor: str | None
) -> tuple[list[Subscription], str | None]:
    """`owner`'s webhooks, oldest first, a page at a time."""
    args: list[Any] = [owner, limit + 1]
    where = "owner = $1"
    if cursor:
        created, webhook_id = keyset_position(cursor)
        where += " AND (created_at, id) > ($3, $4)"
        args += [created, webhook_id]
    rows = await pool.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE {where}"
        " ORDER BY created_at, id LIMIT $2",
        *args,
    )
    page = [_subscription(r) for r in rows[:limit]]
    return page, keyset_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None


async def get(pool: asyncpg.Pool, owner: str, webhook_id: uuid.UUID) -> Subscription | None:
    row = await pool.fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1 AND owner = $2",
        webhook_id,
        owner,
    )
    return _subscription(row) if row else None


async def delete(pool: asyncpg.Pool, owner: str, webhook_id: uuid.UUID) -> bool:
    """Removes the webhook and its delivery log (pending deliveries are not sent)."""
    done: str = await pool.execute(
        "DELETE FROM webhook_subscriptions WHERE id = $1 AND owner = $2", webhook_id, owner
    )
    return done.endswith(" 1")


async def rotate(
    pool: asyncpg.Pool, owner: str, webhook_id: uuid.UUID, secret: str, grace_s: float
) -> Subscription | None:
    row = await pool.fetchrow(
        "UPDATE webhook_subscriptions SET previous_secret = secret, secret = $3,"
        " previous_expires_at = now() + make_interval(secs => $4)"
        f" WHERE id = $1 AND owner = $2 RETURNING {SUBSCRIPTION_COLUMNS}",
        webhook_id,
        owner,
        secret,
        grace_s,
    )
    return _subscription(row) if row else None


# A disabled account's webhooks send nothing: new facts queue no deliveries for it, and
# what it had queued waits (sent if an admin enables the account again). Owners that are not
# accounts (the development principal) are never disabled.
OWNER_DISABLED = (
    "EXISTS (SELECT 1 FROM users u WHERE u.disabled"
    " AND u.id = CASE WHEN {owner} ~ '^[0-9a-f]{{8}}-[0-9a-f-]{{27}}$' THEN {owner}::uuid END)"
)


async def matching(
    pool: asyncpg.Pool, owner: str, job_id: uuid.UUID, types: tuple[str, ...]
) -> list[Subscription]:
    """`owner`'s webhooks that want any of `types` for `job_id`."""
    rows = await pool.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE owner = $1"
        " AND (job_id IS NULL OR job_id = $2) AND event_types && $3::text[]"
        f" AND NOT {OWNER_DISABLED.format(owner='owner')}",
        owner,
        job_id,
        list(types),
    )
    return [_subscription(r) for r in rows]


async def enqueue(
    pool: asyncpg.Pool,
    delivery_id: uuid.UUID,
    subscription_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    job_id: uuid.UUID,
    body: str,
    *,
    max_pending: int | None = None,
) -> bool:
    """One delivery, unless one with this id exists (a fact read again) or, with
    `max_pending`, the webhook already has that many waiting. True if it was added."""
    async with pool.acquire() as conn, conn.transaction():
        if max_pending is not None:
            # Counted under the webhook's lock: facts read at once cannot both take the
            # last place.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('webhook-pending:' || $1))",
                str(subscription_id),
            )
            waiting = await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries"
                " WHERE subscription_id = $1 AND status = 'pending'",
                subscription_id,
            )
            if waiting >= max_pending:
                return False
        added = await conn.fetchval(
            "INSERT INTO webhook_deliveries"
            " (id, subscription_id, event_id, event_type, job_id, body)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id",
            delivery_id,
            subscription_id,
            event_id,
            event_type,
            job_id,
            body,
        )
    return added is not None


async def claim_due(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[Due]:
    """Up to `limit` deliveries whose time has come, each counted as one more attempt and
    hidden from other claims for `lease_s` (a gateway that stops mid-attempt leaves it to be
    tried again then, under the same id)."""
    rows = await pool.fetch(
        "UPDATE webhook_deliveries d SET attempts = d.attempts + 1,"
        " next_attempt_at = now() + make_interval(secs => $2)"
        " FROM webhook_subscriptions s"
        " WHERE s.id = d.subscription_id AND d.id IN ("
        "   SELECT p.id FROM webhook_deliveries p"
        "   JOIN webhook_subscriptions w ON w.id = p.subscription_id"
        "   WHERE p.status = 'pending' AND p.next_attempt_at <= now()"
        f"  AND NOT {OWNER_DISABLED.format(owner='w.owner')}"
        "   ORDER BY p.next_attempt_at LIMIT $1 FOR UPDATE OF p SKIP LOCKED)"
        " RETURNING d.id, d.body, d.attempts, s.url, s.secret, s.previous_secret,"
        " s.previous_expires_at > now() AS previous_valid",
        limit,
        lease_s,
    )
    return [
        Due(
            id=r["id"],
            body=r["body"],
            attempts=r["attempts"],
            url=r["url"],
            keys=[r["secret"], *([r["previous_secret"]] if r["previous_valid"] else [])],
        )
        for r in rows
    ]


async def delivered(pool: asyncpg.Pool, delivery_id: uuid.UUID, status_code: int) -> None:
    await pool.execute(
        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),"
        " finished_at = now(), last_status_code = $2, last_error = NULL WHERE id = $1",
        delivery_id,
        status_code,
    )


async def attempt_failed(
    pool: asyncpg.Pool,
    delivery_id: uuid.UUID,
    status_code: int | None,
    error: str,
    retry_in_s: float | None,
) -> None:
    """Record a failed attempt: tried again in `retry_in_s`, or (None) failed for good."""
    if retry_in_s is None:
        await pool.execute(
            "UPDATE webhook_deliveries SET status = 'failed', finished_at = now(),"
            " last_status_code = $2, last_error = $3 WHERE id = $1",
            delivery_id,
            status_code,
            error,
        )
    else:
        await pool.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $4),"
            " last_status_code = $2, last_error = $3 WHERE id = $1",
            delivery_id,
            status_code,
            error,
            retry_in_s,
        )


async def deliveries(
    pool: asyncpg.Pool, subscription_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Delivery], str | None]:
    """A webhook's delivery log, newest first, a page at a time."""
    args: list[Any] = [subscription_id, limit + 1]
    where = "subscription_id = $1"
    if cursor:
        created, delivery_id = keyset_position(cursor)
        where += " AND (created_at, id) < ($3, $4)"
        args += [created, delivery_id]
    rows = await pool.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where}"
        " ORDER BY created_at DESC, id DESC LIMIT $2",
        *args,
    )
    page = [Delivery(**dict(r)) for r in rows[:limit]]
    return page, keyset_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None


async def forget_finished(pool: asyncpg.Pool, older_than_s: float) -> int:
    """Drop delivered and failed deliveries that ended more than `older_than_s` ago."""
    done: str = await pool.execute(
        "DELETE FROM webhook_deliveries WHERE status <> 'pending'"
        " AND finished_at < now() - make_interval(secs => $1)",
        older_than_s,
    )
    return int(done.split()[-1])
