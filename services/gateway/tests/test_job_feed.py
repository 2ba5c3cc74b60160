"""The live feed: a snapshot first, then only changes, with nothing lost in between."""

from __future__ import annotations

import asyncio
import uuid

from cadenza.contracts import ArtifactRef, EffectsCompleted, JobProgress, JobSubmitted
from cadenza.contracts.composition import CompositionCompleted, CompositionFailed
from cadenza.contracts.consumers import LIVE_SUBJECTS
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.registry import EVENT_TYPES
from cadenza.contracts.render import MasterCompleted, RenderCompleted
from cadenza.gateway.job_feed import JobFeed, SendQueue
from cadenza.gateway.job_state import JobState, new_job

REF = ArtifactRef(uri="file:///s/a.wav", media_type="audio/wav", bytes=10, sha256="1" * 64)


def drain(queue: SendQueue) -> list[dict[str, object]]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


class FakeStore:
    """Stands in for PostgreSQL: the stored job, with an optional delay on loading."""

    def __init__(self) -> None:
        self.jobs: dict[uuid.UUID, JobState] = {}
        self.delay = 0.0

    async def load(self, owner: str, job_id: uuid.UUID) -> JobState | None:
        await asyncio.sleep(self.delay)
        job = self.jobs.get(job_id)
        return job if job and job.owner == owner else None


def make_job(store: FakeStore) -> JobSubmitted:
    start = JobSubmitted(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        kind="effects",
        input={},
        params={},
        stages=["effects"],
    )
    store.jobs[start.job_id] = new_job(start)
    return start


def progress(start: JobSubmitted, value: float) -> JobProgress:
    return JobProgress.caused_by(start, step=str(value), stage="effects", progress=value)


async def test_snapshot_then_events_in_order_without_repeats() -> None:
    store = FakeStore()
    job_feed = JobFeed(store.load)
    start = make_job(store)
    queue: SendQueue = asyncio.Queue()
    assert await job_feed.subscribe("alice", start.job_id, queue)
    for value in (0.2, 0.5, 0.5, 0.4, 0.9):
        job_feed.publish(progress(start, value))
    job_feed.publish(EffectsCompleted.caused_by(start, stage="effects", outputs={"out.wav": REF}))
    messages = drain(queue)
    assert [m["type"] for m in messages] == [
        "job.snapshot",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.completed",
    ]
    assert [m.get("progress") for m in messages[1:4]] == [0.2, 0.5, 0.9]
    assert messages[-1]["artifacts"][0]["name"] == "out.wav"  # type: ignore[index]


async def test_a_late_subscriber_sees_what_the_database_does_not_have_yet() -> None:
    store = FakeStore()
    job_feed = JobFeed(store.load)
    start = make_job(store)  # stored as queued: the projection has not caught up
    job_feed.publish(progress(start, 0.7))
    job_feed.publish(EffectsCompleted.caused_by(start, stage="effects", outputs={"out.wav": REF}))
    queue: SendQueue = asyncio.Queue()
    assert await job_feed.subscribe("alice", start.job_id, queue)
    messages = drain(queue)
    assert [m["type"] for m in messages] == ["job.snapshot", "job.completed"]
    assert messages[0]["status"] == "completed"


async def test_events_during_the_snapshot_load_are_not_lost() -> None:
    store = FakeStore()
    store.delay = 0.05
    job_feed = JobFeed(store.load)
    start = make_job(store)
    queue: SendQueue = asyncio.Queue()
    subscribing = asyncio.create_task(job_feed.subscribe("alice", start.job_id, queue))
    await asyncio.sleep(0.01)
    job_feed.publish(progress(start, 0.3))
    assert await subscribing
    job_feed.publish(progress(start, 0.6))
    messages = drain(queue)
    assert messages[0]["type"] == "job.snapshot" and messages[0]["progress"] == 0.3
    assert [m["progress"] for m in messages[1:]] == [0.6]


async def test_other_owners_see_nothing() -> None:
    store = FakeStore()
    job_feed = JobFeed(store.load)
    start = make_job(store)
    mallory: SendQueue = asyncio.Queue()
    assert not await job_feed.subscribe("mallory", start.job_id, mallory)
    alice: SendQueue = asyncio.Queue()
    assert await job_feed.subscribe("alice", start.job_id, alice)
    assert not await job_feed.subscribe("mallory", start.job_id, mallory)
    job_feed.publish(progress(start, 0.5))
    assert drain(mallory) == []
    assert len(drain(alice)) == 2


async def test_unsubscribe_stops_events() -> None:
    store = FakeStore()
    job_feed = JobFeed(store.load)
    start = make_job(store)
    queue: SendQueue = asyncio.Queue()
    await job_feed.subscribe("alice", start.job_id, queue)
    job_feed.unsubscribe(start.job_id, queue)
    drain(queue)
    job_feed.publish(progress(start, 0.5))
    assert drain(queue) == []


async def test_a_pipeline_speaks_the_stage_vocabulary() -> None:
    store = FakeStore()
    job_feed = JobFeed(store.load)
    start = JobSubmitted(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        kind="pipeline",
        input={},
        params={},
        stages=["blend", "render", "master"],
    )
    store.jobs[start.job_id] = new_job(start)
    queue: SendQueue = asyncio.Queue()
    assert await job_feed.subscribe("alice", start.job_id, queue)
    midi = REF.model_copy(update={"media_type": "audio/midi"})
    job_feed.publish(JobProgress.caused_by(start, step="b", stage="blend", progress=0.5))
    job_feed.publish(
        CompositionCompleted.caused_by(
            start, stage="blend", outputs={"blend-blend.mid": midi}, job_finished=False
        )
    )
    job_feed.publish(JobProgress.caused_by(start, step="r", stage="render", progress=0.4))
    job_feed.publish(
        RenderCompleted.caused_by(
            start, stage="render", outputs={"render-mix.wav": REF}, job_finished=False
        )
    )
    job_feed.publish(
        MasterCompleted.caused_by(start, stage="master", outputs={"mastered.wav": REF})
    )
    stage_events = [
        (m["type"], m.get("stage"))
        for m in drain(queue)
        if str(m["type"]).startswith(("stage.", "project."))
    ]
    assert stage_events == [
        ("stage.started", "blend"),
        ("stage.progress", "blend"),
        ("stage.completed", "blend"),
        ("stage.started", "render"),
        ("stage.progress", "render"),
        ("stage.completed", "render"),
        ("stage.started", "master"),
        ("stage.completed", "master"),
        ("project.completed", None),
    ]


async def test_a_failed_stage_fails_the_project() -> None:
    store = FakeStore()
    job_feed = JobFeed(store.load)
    start = JobSubmitted(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        kind="pipeline",
        input={},
        params={},
        stages=["blend", "render"],
    )
    store.jobs[start.job_id] = new_job(start)
    queue: SendQueue = asyncio.Queue()
    assert await job_feed.subscribe("alice", start.job_id, queue)
    job_feed.publish(
        CompositionFailed.caused_by(
            start, stage="blend", code="invalid_input", reason="song 2 has no notes"
        )
    )
    (failed,) = [m for m in drain(queue) if m["type"] == "project.failed"]
    assert failed["error"]["reason"] == "song 2 has no notes"  # type: ignore[index]


def test_the_live_feed_hears_every_fact_of_every_stage() -> None:
    """Three-token subjects (`render.master.completed`) included: a wildcard like
    `*.completed` would miss them and the WebSocket would stall at the last stage."""
    facts = {t.subject for t in EVENT_TYPES if issubclass(t, (StageCompleted, StageFailed))}
    assert {"render.master.completed", "render.mix.failed", "composition.completed"} <= facts
    assert {f for f in facts if not f.startswith("job.")} <= set(LIVE_SUBJECTS)
    assert "catalog.song.ingested" in LIVE_SUBJECTS and "job.>" in LIVE_SUBJECTS
    assert not [s for s in LIVE_SUBJECTS if s.endswith(".requested")]
