"""The transactional outbox: accepted jobs reach JetStream even if NATS was down.

`queue_job` commits a job's first events to the `outbox` table in the same transaction as
the job row, then publishes them; what JetStream acknowledges is deleted. `OutboxRelay`
publishes whatever is left (a NATS outage, a gateway that died between commit and
publish), oldest first. JetStream would drop a second publish (each event's Nats-Msg-Id is
its id), but every core subscriber of the subject (each gateway's live feed) would still
receive it: so the relay leaves alone what this gateway is publishing or has had confirmed,
and waits longer than a publish may take before it takes over another replica's events.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

import asyncpg
from prometheus_client import Gauge

from cadenza.contracts.envelope import Envelope
from cadenza.contracts.registry import ANY_BY_SUBJECT
from cadenza.runtime.bus import Bus

log = logging.getLogger(__name__)

PENDING = Gauge("cadenza_outbox_pending_events", "Accepted events not yet confirmed by JetStream")


async def stage(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    """Inside the caller's transaction: remember `events` until JetStream has them."""
    # clock_timestamp, not now(): the relay's grace runs from here, not from the start of a
    # transaction that may have waited on locks.
    await conn.executemany(
        "INSERT INTO outbox (event_id, subject, payload, created_at)"
        " VALUES ($1, $2, $3, clock_timestamp()) ON CONFLICT (event_id) DO NOTHING",
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
        self._publishing: set[uuid.UUID] = set()
        # Confirmed, still in the table until `flush_confirmed` has deleted them.
        self._confirmed: set[uuid.UUID] = set()

    def held(self) -> list[uuid.UUID]:
        """Events this process is publishing or has had confirmed: not the relay's to send."""
        return [*self._publishing, *self._confirmed]

    async def publish_staged(self, events: Sequence[Envelope]) -> bool:
        """Publish; False when the bus did not confirm them all (the relay retries those)."""
        ids = [e.event_id for e in events]
        self._publishing.update(ids)
        try:
            results = await asyncio.gather(
                *(self.bus.publish(e) for e in events), return_exceptions=True
            )
        finally:
            self._publishing.difference_update(ids)
        failed = [r for r in results if isinstance(r, BaseException)]
        # What JetStream did confirm is not published again, even when the rest failed.
        self._confirmed.update(
            i for i, r in zip(ids, results, strict=True) if not isinstance(r, BaseException)
        )
        if failed:
            log.warning(
                "the event bus did not confirm %d of %d events; the outbox keeps them: %s",
                len(failed),
                len(events),
                failed[0],
            )
            return False
        return True

    async def flush_confirmed(self) -> int:
        if not self._confirmed:
            return 0
        # They stay held until the rows are gone (the database down: next round).
        confirmed = list(self._confirmed)
        await self.pool.execute("DELETE FROM outbox WHERE event_id = ANY($1::uuid[])", confirmed)
        self._confirmed.difference_update(confirmed)
        return len(confirmed)


class OutboxRelay:
    """Publishes events older than `grace_s` still in the outbox (run it periodically),
    except those `outbox` holds. The default grace is longer than a publish may wait for
    its PubAck and the confirmed rows' deletion after it, so that neither this replica's
    nor another's publish still in progress is raced."""

    def __init__(self, outbox: Outbox, *, grace_s: float | None = None) -> None:
        self.outbox = outbox
        self.pool = outbox.pool
        self.bus = outbox.bus
        self.grace_s = outbox.bus.timeout_s + 2.0 if grace_s is None else grace_s

    async def relay_once(self, limit: int = 200) -> int:
        """Publish up to `limit` leftover events; returns how many JetStream confirmed."""
        published = 0
        async with self.pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED: several gateway replicas share the outbox without double work.
            rows = await conn.fetch(
                "SELECT position, subject, payload FROM outbox"
                " WHERE created_at < now() - make_interval(secs => $1)"
                " AND NOT event_id = ANY($3::uuid[])"
                " ORDER BY position LIMIT $2 FOR UPDATE SKIP LOCKED",
                self.grace_s,
                limit,
                self.outbox.held(),
            )
            for row in rows:
                cls = ANY_BY_SUBJECT.get(row["subject"])
                if cls is not None:
                    try:
                        await self.bus.publish(cls.model_validate(row["payload"]))
                    except Exception as e:
                        # Stop here, but commit what went out: were the transaction rolled
                        # back, the rows JetStream confirmed would go out a second time
                        # (dropped by the stream as duplicates, not by core subscribers).
                        log.warning("outbox relay stopped: the bus did not confirm: %s", e)
                        break
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
