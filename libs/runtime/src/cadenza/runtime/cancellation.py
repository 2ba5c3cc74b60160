"""Which jobs are cancelled: a JetStream key-value bucket every worker mirrors in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from cadenza.contracts.streams import CANCELLATIONS_BUCKET, WEEK_S
from cadenza.runtime.bus import key_value_bucket, patiently

log = logging.getLogger(__name__)


async def cancellations_bucket(js: JetStreamContext, replicas: int | None = None) -> KeyValue:
    return await key_value_bucket(js, CANCELLATIONS_BUCKET, ttl_s=WEEK_S, replicas=replicas)


class Cancellations:
    """An in-memory mirror of the bucket, so checking a job costs a set lookup.

    `is_cancelled` is safe to call from worker threads (it reads a set the event
    loop replaces atomically).
    """

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._cancelled: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None
        self._kv: KeyValue | None = None

    async def start(self) -> None:
        # At a service's start, as its streams: a cluster may not answer yet.
        self._kv = await patiently("open the cancellations", lambda: cancellations_bucket(self.js))
        kv = self._kv
        watcher = await patiently("watch the cancellations", kv.watchall)
        seen: set[str] = set()
        # The watcher yields None once it has replayed what the bucket holds.
        while (entry := await watcher.updates(timeout=30)) is not None:  # type: ignore[no-untyped-call]
            if entry.value is not None and entry.operation is None:
                seen.add(entry.key)
        self._cancelled = frozenset(seen)
        self._task = asyncio.create_task(self._follow(watcher), name="cancellations")

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is None:
                continue
            if entry.operation is None:
                self._cancelled = self._cancelled | {entry.key}
            else:
                self._cancelled = self._cancelled - {entry.key}

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def is_cancelled(self, job_id: uuid.UUID | str) -> bool:
        return str(job_id) in self._cancelled

    async def cancel(self, job_id: uuid.UUID | str, reason: str) -> None:
        if self._kv is None:
            self._kv = await cancellations_bucket(self.js)
        await self._kv.put(str(job_id), reason.encode())
