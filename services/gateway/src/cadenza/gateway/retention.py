"""Retention: generated files, job records and uploads past their ages are removed on a
schedule; catalog songs and whatever the owner pinned are kept.

Order keeps storage and database in agreement: the removal is published (the streams are
the record) and applied to the projection first, so no job points at a missing file, then
the files go. A crash in between leaves files no record points at; the orphan pass of the
next sweep removes them. Each removal is a `job.retention_removed` event and a count in
`cadenza_retention_removed_total`.

Across gateway replicas: a sweep holds a PostgreSQL advisory lock (one at a time, so each
thing is removed once), and the scheduled one runs only if no replica started one within
the interval (`background_runs`), so N replicas sweep once per interval, not N times.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from prometheus_client import Counter as MetricCounter

from cadenza.contracts.envelope import derive_id
from cadenza.contracts.jobs import RetentionRemoved
from cadenza.gateway import quota_repository, retention_repository
from cadenza.gateway.projection import Projection
from cadenza.runtime.bus import Bus
from cadenza.runtime.storage import ObjectStore

log = logging.getLogger(__name__)

REMOVED = MetricCounter(
    "cadenza_retention_removed_total", "Things retention removed, by kind", ["what"]
)
SWEEPS = MetricCounter(
    "cadenza_retention_sweeps_total", "Scheduled retention sweeps this replica ran"
)
FREED = MetricCounter("cadenza_retention_freed_bytes_total", "Bytes retention freed in storage")

# Prefixes under an owner that belong to the catalog: never retention's to remove.
CATALOG_PREFIXES = frozenset({"songs", "imports"})
BATCH = 500


@dataclass(frozen=True)
class Ages:
    artifacts_s: float
    jobs_s: float
    uploads_s: float
    orphan_grace_s: float


class Retention:
    def __init__(
        self, pool: asyncpg.Pool, store: ObjectStore, bus: Bus, projection: Projection, ages: Ages
    ) -> None:
        self.pool = pool
        self.store = store
        self.bus = bus
        self.projection = projection
        self.ages = ages
        self._freed = 0

    async def sweep_if_due(self, interval_s: float) -> dict[str, int] | None:
        """The scheduled sweep: None when another replica started one within most of
        `interval_s` (the replicas' timers drift apart; a tenth of slack keeps one
        replica's own next round due)."""
        if not await retention_repository.claim_run(self.pool, "retention", 0.9 * interval_s):
            return None
        SWEEPS.inc()
        removed = await self.sweep()
        if any(removed.values()):
            log.info("retention sweep: %s", removed)
        return removed

    async def sweep(self) -> dict[str, int]:
        """One pass; returns how many of each kind it removed (empty: another replica is
        sweeping)."""
        async with retention_repository.sweep_lock(self.pool) as held:
            if not held:
                return {}
            counts: Counter[str] = Counter()
            counts["artifacts"] = await self._expire_artifacts()
            counts["job"] = await self._expire_jobs()
            counts["upload"] = await self._expire_uploads()
            counts["orphan"] = await self._remove_orphans()
            counts["sessions"] = await self._forget_sessions()
            counts["bytes_freed"] = int(self._freed)
            self._freed = 0
            return dict(counts)

    async def _record(
        self,
        what: Literal["artifacts", "job", "upload", "orphan"],
        thing: uuid.UUID,
        owner: str,
        names: list[str],
        freed: int,
        reason: str,
    ) -> None:
        event = RetentionRemoved(
            event_id=derive_id(thing, f"retention/{what}"),
            job_id=thing,
            owner=owner,
            correlation_id=thing,
            what=what,
            names=names[:1000],
            bytes_freed=freed,
            reason=reason,
        )
        await self.bus.publish(event)
        await self.projection.apply(event)
        REMOVED.labels(what).inc()

    def _count_freed(self, size: int) -> None:
        self._freed += size
        FREED.inc(size)

    async def delete_files(self, refs: dict[str, dict[str, Any]]) -> None:
        """A job's files, gone from storage and from its owner's storage use (a song's
        files stay: they are the catalog's)."""
        await self._delete_files(refs)

    async def _delete_files(self, refs: dict[str, dict[str, Any]]) -> None:
        gone = []
        for ref in refs.values():
            with contextlib.suppress(ValueError):
                key = self.store.key_for(ref["uri"])
                if _catalog_file(key):
                    continue  # a song's file, which an ingest job lists: the catalog's
                await self.store.delete(key)
                self._count_freed(int(ref.get("bytes", 0)))
                gone.append(ref["uri"])
        await quota_repository.forget_files(self.pool, gone)

    async def _expire_artifacts(self) -> int:
        rows = await retention_repository.jobs_with_old_artifacts(
            self.pool, self.ages.artifacts_s, BATCH
        )
        for row in rows:
            artifacts: dict[str, dict[str, Any]] = row["artifacts"]
            size = sum(int(a.get("bytes", 0)) for a in artifacts.values())
            hours = self.ages.artifacts_s / 3600
            await self._record(
                "artifacts",
                row["id"],
                row["owner"],
                sorted(artifacts),
                size,
                f"generated files are kept {hours:g} hours after the job ends",
            )
            await self._delete_files(artifacts)
        return len(rows)

    async def _expire_jobs(self) -> int:
        rows = await retention_repository.old_jobs(self.pool, self.ages.jobs_s, BATCH)
        for row in rows:
            days = self.ages.jobs_s / 86400
            await self._record(
                "job",
                row["id"],
                row["owner"],
                sorted(row["artifacts"]),
                0,
                f"job records are kept {days:g} days after the job ends",
            )
            await self._delete_files(row["artifacts"])
        return len(rows)

    async def _expire_uploads(self) -> int:
        # An upload a live job still reads from stays until that job ends.
        rows = await retention_repository.old_uploads(self.pool, self.ages.uploads_s, BATCH)
        for row in rows:
            hours = self.ages.uploads_s / 3600
            await self._record(
                "upload",
                row["id"],
                row["owner"],
                [row["filename"]],
                int(row["bytes"]),
                f"uploads are kept {hours:g} hours",
            )
            await retention_repository.delete_upload(self.pool, row["id"])
            await self._delete_files({"source": {"uri": row["uri"], "bytes": row["bytes"]}})
        return len(rows)

    async def _remove_orphans(self) -> int:
        """Files no record points at any more, past a grace period (a worker writes its
        outputs before the fact that records them arrives). Two queries per sweep, not one
        per file: the records of every id seen are read at once."""
        now = time.time()
        listed = [
            (o, o.key.split("/"))
            async for o in self.store.list_objects()
            if o.key.count("/") >= 2 and o.key.split("/")[1] not in CATALOG_PREFIXES
        ]
        upload_ids = _ids(parts[2] for _, parts in listed if parts[1] == "uploads")
        job_ids = _ids(parts[1] for _, parts in listed if parts[1] not in ("uploads", "matches"))
        uploads = await retention_repository.existing_uploads(self.pool, list(upload_ids.values()))
        expired = await retention_repository.jobs_without_files(self.pool, list(job_ids.values()))
        removed = 0
        for obj, parts in listed:
            age = now - obj.modified
            if parts[1] == "matches":
                orphan = age > self.ages.orphan_grace_s
            elif parts[1] == "uploads":
                upload = upload_ids.get(parts[2])
                orphan = (
                    upload is not None and upload not in uploads and age > self.ages.artifacts_s
                )
            elif (job := job_ids.get(parts[1])) is None:
                orphan = False  # not a job's folder: not ours to judge
            elif job in expired:
                orphan = expired[job]  # the job's files were removed; this one was missed
            else:
                # No record (removed, or never recorded): only after the longest file age.
                orphan = age > self.ages.artifacts_s
            if orphan:
                await self.store.delete(obj.key)
                self._count_freed(obj.bytes)
                REMOVED.labels("orphan").inc()
                removed += 1
        if removed:
            log.info("retention removed %d files no record pointed at", removed)
        return removed

    async def _forget_sessions(self) -> int:
        """Sign-in sessions a day past their end (expired or revoked), with their refresh
        tokens: nothing can use them any more."""
        return await retention_repository.forget_old_sessions(self.pool)


def _catalog_file(key: str) -> bool:
    """Whether the object is a catalog song's (kept until the song goes, never by age)."""
    parts = key.split("/")
    return len(parts) >= 2 and parts[1] in CATALOG_PREFIXES


def _ids(raw: Iterable[str]) -> dict[str, uuid.UUID]:
    """The folder names that are ids, parsed once."""
    parsed = {}
    for text in raw:
        try:
            parsed[text] = uuid.UUID(text)
        except ValueError:
            continue
    return parsed
