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
from cadenza.gateway.job_state import JobState, new_job
from cadenza.gateway.live import LiveHub, Outbox

REF = ArtifactRef(uri="file:///s/a.wav", media_type="audio/wav", bytes=10, sha256="1" * 64)


def drain(outbox: Outbox) -> list[dict[str, object]]:
    items = []
    while not outbox.empty():
        items.append(outbox.get_nowait())
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
    hub = LiveHub(store.load)
    start = make_job(store)
    outbox: Outbox = asyncio.Queue()
    assert await hub.subscribe("alice", start.job_id, outbox)
    for value in (0.2, 0.5, 0.5, 0.4, 0.9):
        hub.publish(progress(start, value))
    hub.publish(EffectsCompleted.caused_by(start, stage="effects", outputs={"out.wav": REF}))
    messages = drain(outbox)
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
    hub = LiveHub(store.load)
    start = make_job(store)  # stored as queued: the projection has not caught up
    hub.publish(progress(start, 0.7))
    hub.publish(EffectsCompleted.caused_by(start, stage="effects", outputs={"out.wav": REF}))
    outbox: Outbox = asyncio.Queue()
    assert await hub.subscribe("alice", start.job_id, outbox)
    messages = drain(outbox)
    assert [m["type"] for m in messages] == ["job.snapshot", "job.completed"]
    assert messages[0]["status"] == "completed"


async def test_events_during_the_snapshot_load_are_not_lost() -> None:
    store = FakeStore()
    store.delay = 0.05
    hub = LiveHub(store.load)
    start = make_job(store)
    outbox: Outbox = asyncio.Queue()
    subscribing = asyncio.create_task(hub.subscribe("alice", start.job_id, outbox))
    await asyncio.sleep(0.01)
    hub.publish(progress(start, 0.3))
    assert await subscribing
    hub.publish(progress(start, 0.6))
    messages = drain(outbox)
    assert messages[0]["type"] == "job.snapshot" and messages[0]["progress"] == 0.3
    assert [m["progress"] for m in messages[1:]] == [0.6]


async def test_other_owners_see_nothing() -> None:
    store = FakeStore()
    hub = LiveHub(store.load)
    start = make_job(store)
    mallory: Outbox = asyncio.Queue()
    assert not await hub.subscribe("mallory", start.job_id, mallory)
    alice: Outbox = asyncio.Queue()
    assert await hub.subscribe("alice", start.job_id, alice)
    assert not await hub.subscribe("mallory", start.job_id, mallory)
    hub.publish(progress(start, 0.5))
    assert drain(mallory) == []
    assert len(drain(alice)) == 2


async def test_unsubscribe_stops_events() -> None:
    store = FakeStore()
    hub = LiveHub(store.load)
    start = make_job(store)
    outbox: Outbox = asyncio.Queue()
    await hub.subscribe("alice", start.job_id, outbox)
    hub.unsubscribe(start.job_id, outbox)
    drain(outbox)
    hub.publish(progress(start, 0.5))
    assert drain(outbox) == []


async def test_a_pipeline_speaks_the_stage_vocabulary() -> None:
    store = FakeStore()
    hub = LiveHub(store.load)
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
    outbox: Outbox = asyncio.Queue()
    assert await hub.subscribe("alice", start.job_id, outbox)
    midi = REF.model_copy(update={"media_type": "audio/midi"})
    hub.publish(JobProgress.caused_by(start, step="b", stage="blend", progress=0.5))
    hub.publish(
        CompositionCompleted.caused_by(
            start, stage="blend", outputs={"blend-blend.mid": midi}, job_finished=False
        )
    )
    hub.publish(JobProgress.caused_by(start, step="r", stage="render", progress=0.4))
    hub.publish(
        RenderCompleted.caused_by(
            start, stage="render", outputs={"render-mix.wav": REF}, job_finished=False
        )
    )
    hub.publish(MasterCompleted.caused_by(start, stage="master", outputs={"mastered.wav": REF}))
    stage_events = [
        (m["type"], m.get("stage"))
        for m in drain(outbox)
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
    hub = LiveHub(store.load)
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
    outbox: Outbox = asyncio.Queue()
    assert await hub.subscribe("alice", start.job_id, outbox)
    hub.publish(
        CompositionFailed.caused_by(
            start, stage="blend", code="invalid_input", reason="song 2 has no notes"
        )
    )
    (failed,) = [m for m in drain(outbox) if m["type"] == "project.failed"]
    assert failed["error"]["reason"] == "song 2 has no notes"  # type: ignore[index]


def test_the_live_feed_hears_every_fact_of_every_stage() -> None:
    """Three-token subjects (`render.master.completed`) included: a wildcard like
    `*.completed` would miss them and the WebSocket would stall at the last stage."""
    facts = {t.subject for t in EVENT_TYPES if issubclass(t, (StageCompleted, StageFailed))}
    assert {"render.master.completed", "render.mix.failed", "composition.completed"} <= facts
    assert {f for f in facts if not f.startswith("job.")} <= set(LIVE_SUBJECTS)
    assert "catalog.song.ingested" in LIVE_SUBJECTS and "job.>" in LIVE_SUBJECTS
    assert not [s for s in LIVE_SUBJECTS if s.endswith(".requested")]
