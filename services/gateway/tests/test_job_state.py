"""The job fold: idempotent, monotonic, and indifferent to the order events arrive in."""

from __future__ import annotations

import itertools
import uuid

import pytest

from cadenza.contracts import (
    ArtifactRef,
    EffectsCompleted,
    EffectsFailed,
    Event,
    JobCancelled,
    JobProgress,
    JobSubmitted,
)
from cadenza.gateway.job_state import JobState, StageState, new_job, reduce

REF = ArtifactRef(uri="file:///s/a.wav", media_type="audio/wav", bytes=10, sha256="1" * 64)


def submitted(stages: list[str] | None = None) -> JobSubmitted:
    return JobSubmitted(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        kind="effects",
        input={},
        params={},
        stages=stages or ["effects"],
    )


def progress(cause: Event, value: float, stage: str = "effects") -> JobProgress:
    return JobProgress.caused_by(cause, step=str(value), stage=stage, progress=value)


def fold(job: JobState, events: list[Event]) -> JobState:
    for event in events:
        job = reduce(job, event)
    return job


def test_a_job_runs_then_completes_with_its_artifacts() -> None:
    start = submitted()
    job = new_job(start)
    assert (job.status, job.progress) == ("queued", 0.0)
    job = reduce(job, progress(start, 0.4))
    assert (job.status, job.progress, job.stages[0].status) == ("running", 0.4, "running")
    done = EffectsCompleted.caused_by(start, stage="effects", outputs={"processed.wav": REF})
    job = reduce(job, done)
    assert (job.status, job.progress) == ("completed", 1.0)
    assert job.artifacts["processed.wav"]["sha256"] == "1" * 64
    assert job.finished_at == done.occurred_at


def test_events_change_nothing_twice_and_progress_never_goes_back() -> None:
    start = submitted()
    job = reduce(new_job(start), progress(start, 0.6))
    assert reduce(job, progress(start, 0.6)) is job
    assert reduce(job, progress(start, 0.3)) is job
    assert reduce(job, progress(start, 0.9, stage="no-such-stage")) is job


def test_the_first_terminal_fact_wins() -> None:
    start = submitted()
    cancelled = reduce(new_job(start), JobCancelled.caused_by(start))
    late = EffectsCompleted.caused_by(start, stage="effects", outputs={"processed.wav": REF})
    assert reduce(cancelled, late) is cancelled
    assert cancelled.status == "cancelled" and cancelled.error
    assert cancelled.error["code"] == "cancelled"
    failed = reduce(
        new_job(start),
        EffectsFailed.caused_by(start, stage="effects", code="invalid_input", reason="not audio"),
    )
    assert failed.error == {
        "stage": "effects",
        "code": "invalid_input",
        "reason": "not audio",
        "attempts": 1,
    }
    assert reduce(failed, progress(start, 0.9)) is failed


def test_any_order_of_the_same_events_gives_the_same_job() -> None:
    start = submitted()
    events: list[Event] = [
        progress(start, 0.25),
        progress(start, 0.75),
        progress(start, 1.0),
        EffectsCompleted.caused_by(start, stage="effects", outputs={"processed.wav": REF}),
    ]
    finals = [
        (job.status, job.progress, job.stages, tuple(job.artifacts))
        for order in itertools.permutations(events)
        for job in [fold(new_job(start), list(order))]
    ]
    expected = (
        "completed",
        1.0,
        (StageState("effects", "completed", 1.0, {}),),
        ("processed.wav",),
    )
    assert all(final == expected for final in finals)


def test_multi_stage_jobs_average_their_stages_and_finish_at_the_last() -> None:
    start = submitted(["separation", "effects"])
    job = reduce(new_job(start), progress(start, 0.5, stage="separation"))
    assert job.progress == pytest.approx(0.25)
    middle = EffectsCompleted.caused_by(
        start, step="sep", stage="separation", outputs={"vocals.wav": REF}, job_finished=False
    )
    job = reduce(job, middle)
    assert (job.status, job.progress) == ("running", 0.5)
    job = reduce(
        job, EffectsCompleted.caused_by(start, stage="effects", outputs={"processed.wav": REF})
    )
    assert job.status == "completed"
    assert sorted(job.artifacts) == ["processed.wav", "vocals.wav"]


def test_a_pipelines_last_fact_folded_first_waits_for_the_earlier_stages() -> None:
    """Each stage's fact comes on its own stream's consumer: the last one can be folded
    before an earlier one, and the job ends only when both are in, with both outputs."""
    start = submitted(["blend", "preview"])
    blend = EffectsCompleted.caused_by(
        start, step="blend", stage="blend", outputs={"blend.mid": REF}, job_finished=False
    )
    preview = EffectsCompleted.caused_by(start, stage="preview", outputs={"preview.mp3": REF})
    for order in ([blend, preview], [preview, blend]):
        job = new_job(start)
        job = reduce(job, order[0])
        assert job.status == "running", order[0].stage
        job = reduce(job, order[1])
        assert job.status == "completed"
        assert sorted(job.artifacts) == ["blend.mid", "preview.mp3"]
        assert job.finished_at == order[1].occurred_at
