"""The transactional outbox: accepted jobs reach JetStream even if NATS was down.

`queue_job` commits a job's first events to the `outbox` table in the same transaction as
the job row, then publishes them; what JetStream acknowledges is deleted. `OutboxRelay`
publishes whatever is left (a NATS outage, a gateway that died between commit and
publish), oldest first. Publishing twice is harmless: each event's Nats-Msg-Id is its id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

import asyncpg
from prometheus_client import Gauge

from cadenza.contracts.envelope import Event
from cadenza.contracts.registry import BY_SUBJECT
from cadenza.runtime.bus import Bus

log = logging.getLogger(__name__)

PENDING = Gauge("cadenza_outbox_pending", "Accepted events not yet confirmed by JetStream")


async def stage(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    """Inside the caller's transaction: remember `events` until JetStream has them."""
    await conn.executemany(
        "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)"
        " ON CONFLICT (event_id) DO NOTHING",
        [(e.event_id, e.subject, e.model_dump(mode="json")) for e in events],
    )


class Outbox:
    """Publishes a new job's staged events and forgets them once JetStream confirmed them.

    The forgetting is batched (`flush_confirmed`, every fraction of a second) to keep a
    database round trip out of each submit; anything not yet forgotten when the gateway
    dies is published again by the relay, and JetStream drops the duplicates.
    """

    def __init__(self, pool: asyncpg.Pool, bus: Bus) -> None:
        self.pool = pool
        self.bus = bus
        self._confirmed: list[uuid.UUID] = []

    async def publish_staged(self, events: Sequence[Event]) -> bool:
        """Publish; False when the bus did not confirm (the relay retries them)."""
        try:
            await asyncio.gather(*(self.bus.publish(e) for e in events))
        except Exception as e:
            log.warning(
                "the event bus did not confirm %d events; the outbox keeps them: %s",
                len(events),
                e,
            )
            return False
        self._confirmed.extend(e.event_id for e in events)
        return True

    async def flush_confirmed(self) -> int:
        confirmed, self._confirmed = self._confirmed, []
        if not confirmed:
            return 0
        try:
            await self.pool.execute(
                "DELETE FROM outbox WHERE event_id = ANY($1::uuid[])", confirmed
            )
        except Exception:
            self._confirmed.extend(confirmed)  # the database is down: next round
            raise
        return len(confirmed)


class OutboxRelay:
    """Publishes events older than `grace_s` still in the outbox (run it periodically)."""

    def __init__(self, pool: asyncpg.Pool, bus: Bus, *, grace_s: float = 3.0) -> None:
        self.pool = pool
        self.bus = bus
        self.grace_s = grace_s

    async def relay_once(self, limit: int = 200) -> int:
        """Publish up to `limit` leftover events; returns how many JetStream confirmed."""
        published = 0
        async with self.pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED: several gateway replicas share the outbox without double work.
            rows = await conn.fetch(
                "SELECT position, subject, payload FROM outbox"
                " WHERE created_at < now() - make_interval(secs => $1)"
                " ORDER BY position LIMIT $2 FOR UPDATE SKIP LOCKED",
                self.grace_s,
                limit,
            )
            for row in rows:
                cls = BY_SUBJECT.get(row["subject"])
                if cls is not None:
                    await self.bus.publish(cls.model_validate(row["payload"]))
                else:
                    log.error(
                        "outbox holds an event of unknown subject %s; dropped", row["subject"]
                    )
                await conn.execute("DELETE FROM outbox WHERE position = $1", row["position"])
                published += 1
            PENDING.set(await conn.fetchval("SELECT count(*) FROM outbox"))
        if published:
            log.info("outbox relay published %d events JetStream had not confirmed", published)
        return published
