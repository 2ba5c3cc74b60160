"""Facts into PostgreSQL: each event applied once (keyed by event id) through `reduce`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from prometheus_client import Counter, Histogram

from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import JobSubmitted, RetentionRemoved, StageCompleted
from cadenza.contracts.registry import BY_SUBJECT
from cadenza.gateway import outbox, quota_repository, repository
from cadenza.gateway.job_state import JobState, new_job, reduce
from cadenza.runtime.logging import job_context

log = logging.getLogger(__name__)

# Run inside the transaction that accepts a job; raises to refuse it.
Admission = Callable[[asyncpg.Connection], Awaitable[None]]

SUBMITTED = Counter("cadenza_jobs_submitted_total", "Jobs accepted, by kind", ["kind"])
FINISHED = Counter(
    "cadenza_jobs_finished_total", "Jobs that ended, by kind and status", ["kind", "status"]
)
JOB_LIFETIME = Histogram(
    "cadenza_job_end_to_end_seconds",
    "From a job's submission to its end, by kind and status",
    ["kind", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600),
)
PROJECTED = Counter(
    "cadenza_projection_events_total",
    "Events the jobs projection received, by subject and result",
    ["subject", "result"],
)


class Projection:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def apply(self, event: Event, *, idempotency_key: str | None = None) -> JobState | None:
        """Record and fold one event; returns the job after it (None if not known yet)."""
        with job_context(job_id=event.job_id, correlation_id=event.correlation_id):
            async with self.pool.acquire() as conn, conn.transaction():
                return await self._apply(conn, event, idempotency_key)

    async def accept(
        self,
        submitted: JobSubmitted,
        commands: Sequence[Event],
        idempotency_key: str | None,
        *,
        reserve_bytes: int = 0,
        admit: Admission | None = None,
    ) -> JobState | None:
        """A new job: its row and its first events in the outbox, in one transaction.
        `admit` runs first in that transaction (the account's quotas; it raises to refuse);
        `reserve_bytes` is held against the account's storage until the job ends."""
        async with self.pool.acquire() as conn, conn.transaction():
            if admit is not None:
                await admit(conn)
            await outbox.stage(conn, [submitted, *commands])
            job = await self._apply(conn, submitted, idempotency_key, fresh=True)
            if reserve_bytes:
                await quota_repository.reserve(conn, submitted.job_id, reserve_bytes)
            return job

    async def _apply(
        self,
        conn: asyncpg.Connection,
        event: Event,
        idempotency_key: str | None,
        *,
        fresh: bool = False,
    ) -> JobState | None:
        """`fresh`: a job the API is creating now, so no event of it can have come first."""
        if isinstance(event, RetentionRemoved) and event.what != "artifacts":
            await self._removed(conn, event)
            return None
        if not await repository.record_event(conn, event):
            PROJECTED.labels(event.subject, "duplicate").inc()
            return await repository.lock_job(conn, event.job_id)
        if isinstance(event, JobSubmitted):
            job = await self._create(conn, event, idempotency_key, fresh=fresh)
        else:
            job = await self._fold(conn, event)
        PROJECTED.labels(event.subject, "applied" if job else "early").inc()
        return job

    async def _removed(self, conn: asyncpg.Connection, event: RetentionRemoved) -> None:
        """A whole job record past its age goes, with its history (uploads and orphans
        are not part of the jobs projection: nothing to do)."""
        if event.what == "job":
            await repository.delete_job_record(conn, event.job_id)
            PROJECTED.labels(event.subject, "applied").inc()

    async def _create(
        self,
        conn: asyncpg.Connection,
        event: JobSubmitted,
        idempotency_key: str | None,
        *,
        fresh: bool = False,
    ) -> JobState | None:
        job = new_job(event, idempotency_key)
        if await repository.insert_job(conn, job):
            SUBMITTED.labels(job.kind).inc()
        if fresh:
            return job
        # Events of this job that were recorded before it existed (a rebuild reads the
        # streams side by side) are folded in now.
        rows = await repository.other_events(conn, event.job_id, event.event_id)
        if not rows:
            return job
        locked = await repository.lock_job(conn, event.job_id)
        if locked is None:
            return None
        folded = locked
        for row in rows:
            cls = BY_SUBJECT.get(row["subject"])
            if cls is not None:
                folded = reduce(folded, cls.model_validate(row["payload"]))
        if folded is not locked:
            await repository.update_job(conn, folded)
            if folded.terminal:
                _ended(folded)
        return folded

    async def _fold(self, conn: asyncpg.Connection, event: Event) -> JobState | None:
        job = await repository.lock_job(conn, event.job_id)
        if job is None:
            return None
        after = reduce(job, event)
        if isinstance(event, StageCompleted):
            # What the stage wrote now counts against the owner's storage.
            files = [(ref.uri, ref.bytes) for ref in event.outputs.values()]
            await quota_repository.record_files(conn, job.owner, job.id, files)
        if after is not job:
            await repository.update_job(conn, after)
            if after.terminal and not job.terminal:
                await quota_repository.reserve(conn, job.id, 0)  # what it wrote is counted
                _ended(after)
        return after


def _ended(job: JobState) -> None:
    """Count a job that has just ended, and say so in the log (once per job)."""
    why = f" ({job.error['code']}: {job.error['reason']})" if job.error else ""
    log.info("%s job %s%s", job.kind, job.status, why)
    FINISHED.labels(job.kind, job.status).inc()
    if job.finished_at is not None:
        seconds = (job.finished_at - job.created_at).total_seconds()
        JOB_LIFETIME.labels(job.kind, job.status).observe(max(seconds, 0.0))
