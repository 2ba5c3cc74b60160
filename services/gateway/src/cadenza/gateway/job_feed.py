"""Live job updates for WebSocket subscribers.

Every gateway process hears every job fact on core NATS (so a client may be connected to
any replica) and folds it with the projection's `reduce`. A subscriber first gets a
snapshot: the stored job, plus events that arrived while the snapshot was loading. After
that it gets each event that changes the job, in order. Nothing is lost for a late
subscriber and nothing is sent that would move a progress bar backwards.

The projection is the one source of truth: every event the job_feed folds into what it sends
is recorded there first (`record`; the live subscriber records each event of a watched
job before handing it over), so a REST read never shows less than a socket said.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Gauge

from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import JobCancelled, JobProgress, StageCompleted, StageFailed
from cadenza.gateway.job_state import JobState, reduce
from cadenza.gateway.views import JobView, artifact_views

log = logging.getLogger(__name__)

SUBSCRIPTIONS = Gauge("cadenza_ws_subscriptions", "Job subscriptions held by WebSocket clients")

Message = dict[str, Any]
SendQueue = asyncio.Queue[Message]
SnapshotLoader = Callable[[str, uuid.UUID], Awaitable[JobState | None]]
Recorder = Callable[[Event], Awaitable[object]]


async def _record_nothing(_: Event) -> None:
    return None


# Recent events kept per job for late subscribers; progress is coalesced per stage.
RECENT_PER_JOB = 16


def snapshot_message(job: JobState) -> Message:
    return {
        "type": "job.snapshot",
        "job_id": str(job.id),
        **JobView.of(job).model_dump(mode="json"),
    }


def event_message(job: JobState, event: Event) -> Message | None:
    base: Message = {"job_id": str(job.id), "status": job.status, "job_progress": job.progress}
    if isinstance(event, JobProgress):
        stage = next(s for s in job.stages if s.name == event.stage)
        return {
            "type": "job.progress",
            **base,
            "stage": stage.name,
            "progress": stage.progress,
            "message": event.message,
        }
    if isinstance(event, StageCompleted):
        artifacts = [a.model_dump(mode="json") for a in artifact_views(job)]
        kind = "job.completed" if job.status == "completed" else "job.stage_completed"
        return {
            "type": kind,
            **base,
            "stage": event.stage,
            "progress": 1.0,
            "artifacts": artifacts,
            "details": dict(event.details),
        }
    if isinstance(event, StageFailed):
        return {"type": "job.failed", **base, "stage": event.stage, "error": job.error}
    if isinstance(event, JobCancelled):
        return {"type": "job.cancelled", **base, "stage": None, "error": job.error}
    return None


def stage_messages(before: JobState, after: JobState, event: Event) -> list[Message]:
    """For jobs with several stages (pipelines), the stage vocabulary as well:
    `stage.started`, `stage.progress`, `stage.completed`, then `project.completed` or
    `project.failed`. A stage starts when its first progress or fact arrives, or as soon as
    the stage before it completes (`reduce` marks it running: its command is on its way)."""
    if len(after.stages) < 2:
        return []
    base: Message = {"job_id": str(after.id), "project_id": str(after.id)}
    messages: list[Message] = []
    was = {s.name: s for s in before.stages}
    for index, stage in enumerate(after.stages):
        old = was.get(stage.name)
        if old is None or old == stage:
            continue
        if old.status == "queued" and stage.status != "queued":
            messages.append({"type": "stage.started", **base, "stage": stage.name, "index": index})
        if stage.status == "running" and stage.progress != old.progress:
            messages.append(
                {
                    "type": "stage.progress",
                    **base,
                    "stage": stage.name,
                    "progress": stage.progress,
                    "project_progress": after.progress,
                }
            )
        if stage.status == "completed" and old.status != "completed":
            messages.append(
                {
                    "type": "stage.completed",
                    **base,
                    "stage": stage.name,
                    "details": stage.details,
                    "project_progress": after.progress,
                }
            )
    if after.status == "completed" and before.status != "completed":
        artifacts = [a.model_dump(mode="json") for a in artifact_views(after)]
        messages.append({"type": "project.completed", **base, "artifacts": artifacts})
    elif after.status in ("failed", "cancelled") and before.status not in ("failed", "cancelled"):
        messages.append(
            {"type": "project.failed", **base, "status": after.status, "error": after.error}
        )
    return messages


def terminal_message(job: JobState) -> Message | None:
    """For a subscriber who arrives after the end: the final event, as if it just happened."""
    base: Message = {"job_id": str(job.id), "status": job.status, "job_progress": job.progress}
    if job.status == "completed":
        artifacts = [a.model_dump(mode="json") for a in artifact_views(job)]
        return {
            "type": "job.completed",
            **base,
            "stage": job.stages[-1].name,
            "progress": 1.0,
            "artifacts": artifacts,
            "details": dict(job.stages[-1].details),
        }
    if job.status == "failed":
        return {
            "type": "job.failed",
            **base,
            "stage": (job.error or {}).get("stage"),
            "error": job.error,
        }
    if job.status == "cancelled":
        return {"type": "job.cancelled", **base, "stage": None, "error": job.error}
    return None


@dataclass
class Watched:
    # The job's owner (whose events these are), known once the job is loaded; subscribers
    # may be others (members of the job's project), each checked by the loader.
    owner: str | None = None
    state: JobState | None = None
    buffer: list[Event] = field(default_factory=list)
    queues: set[SendQueue] = field(default_factory=set)
    loading: int = 0
    # Who each queue reads for (to end a removed project member's subscriptions).
    readers: dict[SendQueue, str] = field(default_factory=dict)


class JobFeed:
    def __init__(
        self, load: SnapshotLoader, recent_jobs: int = 10_000, record: Recorder = _record_nothing
    ) -> None:
        self._load = load
        self._record = record
        self._watched: dict[uuid.UUID, Watched] = {}
        self._recent: OrderedDict[uuid.UUID, list[Event]] = OrderedDict()
        self._recent_jobs = recent_jobs
        self._seen: OrderedDict[uuid.UUID, None] = OrderedDict()

    def _remember(self, event: Event) -> None:
        events = self._recent.setdefault(event.job_id, [])
        self._recent.move_to_end(event.job_id)
        if isinstance(event, JobProgress):
            events[:] = [
                e for e in events if not (isinstance(e, JobProgress) and e.stage == event.stage)
            ]
        events.append(event)
        del events[:-RECENT_PER_JOB]
        while len(self._recent) > self._recent_jobs:
            self._recent.popitem(last=False)

    def watching(self, job_id: uuid.UUID) -> bool:
        """Whether a socket here follows (or is about to follow) the job: its events must
        be recorded before they are published to the job_feed."""
        return job_id in self._watched

    def publish(self, event: Event) -> None:
        """Called for every job fact this process hears (possibly twice: dedupe by id)."""
        if event.event_id in self._seen:
            return
        self._seen[event.event_id] = None
        while len(self._seen) > self._recent_jobs * 4:
            self._seen.popitem(last=False)
        self._remember(event)
        watched = self._watched.get(event.job_id)
        if watched is None or (watched.owner is not None and watched.owner != event.owner):
            return
        if watched.state is None:
            watched.buffer.append(event)
            return
        self._advance(watched, event)

    def _advance(self, watched: Watched, event: Event) -> None:
        assert watched.state is not None
        after = reduce(watched.state, event)
        if after is watched.state:
            return
        before, watched.state = watched.state, after
        message = event_message(after, event)
        messages = ([message] if message is not None else []) + stage_messages(before, after, event)
        for message in messages:
            for queue in list(watched.queues):
                _offer(queue, message)

    async def subscribe(self, reader: str, job_id: uuid.UUID, queue: SendQueue) -> bool:
        """Send `job_id`'s snapshot, then its events, to `queue`; False if `reader` may not
        read the job (the loader decides: its owner, or a member of its project) or there
        is no such job.

        The queue joins only after its snapshot is queued (no await in between), so a
        subscriber never sees an event before its snapshot.
        """
        watched = self._watched.get(job_id)
        if watched is None:
            watched = self._watched[job_id] = Watched()
        watched.loading += 1
        try:
            job = await self._load(reader, job_id)
            if job is not None and watched.state is None:
                # Events heard before anyone watched: recorded, so the snapshot (and any
                # read after it) includes them.
                recorded = False
                for event in list(self._recent.get(job_id, [])):
                    if event.owner == job.owner:
                        await self._record(event)
                        recorded = True
                if recorded:
                    job = await self._load(reader, job_id)
        finally:
            watched.loading -= 1
        if job is None:
            self._forget_if_idle(job_id)
            return False
        if watched.state is None:
            watched.owner = job.owner
            for event in [*self._recent.get(job_id, []), *watched.buffer]:
                if event.owner == job.owner:
                    job = reduce(job, event)
            watched.state, watched.buffer = job, []
        assert watched.state is not None
        _offer(queue, snapshot_message(watched.state))
        if (final := terminal_message(watched.state)) is not None:
            _offer(queue, final)
        watched.queues.add(queue)
        watched.readers[queue] = reader
        SUBSCRIPTIONS.inc()
        return True

    def revoke(self, account: str, project_id: uuid.UUID) -> None:
        """`account` left the project or was removed: its subscriptions to the project's
        jobs that are not its own end here, with a message saying so."""
        for job_id, watched in list(self._watched.items()):
            state = watched.state
            if state is None or state.project_id != project_id or state.owner == account:
                continue
            for queue, reader in list(watched.readers.items()):
                if reader == account:
                    _offer(
                        queue,
                        {
                            "type": "error",
                            "job_id": str(job_id),
                            "message": f"job {job_id} not found: you are no longer a member"
                            " of its project",
                        },
                    )
                    self.unsubscribe(job_id, queue)

    def unsubscribe(self, job_id: uuid.UUID, queue: SendQueue) -> None:
        watched = self._watched.get(job_id)
        if watched is None or queue not in watched.queues:
            return
        watched.queues.discard(queue)
        watched.readers.pop(queue, None)
        SUBSCRIPTIONS.dec()
        self._forget_if_idle(job_id)

    def _forget_if_idle(self, job_id: uuid.UUID) -> None:
        watched = self._watched.get(job_id)
        if watched is not None and not watched.queues and not watched.loading:
            del self._watched[job_id]


def _offer(queue: SendQueue, message: Message) -> None:
    try:
        queue.put_nowait(message)
    except asyncio.QueueFull:
        # A client that stopped reading loses intermediate progress, never its socket's
        # memory budget; the WebSocket handler closes it (see api/routes/ws.py).
        log.warning("websocket queue full; dropping %s", message.get("type"))
