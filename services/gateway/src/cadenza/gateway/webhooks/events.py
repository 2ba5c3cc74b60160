"""Which webhook events a job fact makes, read against the job as the projection stored it.

The projection folds every fact once, in one order; reading its result (rather than folding
again here) means a webhook never says "completed" for a job the API calls "cancelled".
A job ends once, so its ending has one id whichever fact ended it: `uuid5(job id, type)`.
"""

from __future__ import annotations

import uuid

from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import JobCancelled, JobProgress, StageCompleted, StageFailed
from cadenza.gateway.job_state import JobState
from cadenza.gateway.views import JobError, artifact_views
from cadenza.gateway.webhooks.schemas import EventType, WebhookEvent, WebhookJob

# Facts that can make a webhook event, and the types each can make.
POSSIBLE_TYPES: dict[type[Event], tuple[EventType, ...]] = {
    JobProgress: ("job.progress",),
    StageCompleted: ("job.stage_completed", "job.completed"),
    StageFailed: ("job.failed",),
    JobCancelled: ("job.cancelled",),
}


def possible_types(event: Event) -> tuple[EventType, ...]:
    """The webhook event types `event` may make (before looking at the job)."""
    for cls, types in POSSIBLE_TYPES.items():
        if isinstance(event, cls):
            return types
    return ()


def ending_id(job_id: uuid.UUID, event_type: EventType) -> uuid.UUID:
    return uuid.uuid5(job_id, event_type)


def webhook_events(event: Event, job: JobState) -> list[tuple[uuid.UUID, WebhookEvent]]:
    """(webhook event id, payload) for each webhook event `event` makes, given `job` as the
    projection stored it after applying `event`."""
    made: list[tuple[uuid.UUID, WebhookEvent]] = []
    if isinstance(event, JobProgress):
        # Every progress fact the projection recorded: a delivery may come after a later one
        # (deliveries are not ordered; `timestamp` orders them).
        payload = _payload(
            "job.progress",
            event,
            job,
            stage=event.stage,
            stage_progress=event.progress,
            message=event.message,
        )
        made.append((event.event_id, payload))
    elif isinstance(event, StageCompleted):
        stage = next((s for s in job.stages if s.name == event.stage), None)
        if not event.job_finished and stage is not None and stage.status == "completed":
            made.append(
                (event.event_id, _payload("job.stage_completed", event, job, stage=event.stage))
            )
        if job.status == "completed":
            made.append(_ending("job.completed", event, job))
    elif isinstance(event, StageFailed):
        if job.status == "failed":
            made.append(_ending("job.failed", event, job))
    elif isinstance(event, JobCancelled) and job.status == "cancelled":
        made.append(_ending("job.cancelled", event, job))
    return made


def _ending(event_type: EventType, event: Event, job: JobState) -> tuple[uuid.UUID, WebhookEvent]:
    stage = job.error.get("stage") if job.error else None
    payload = _payload(event_type, event, job, stage=stage)
    if job.finished_at is not None:
        payload = payload.model_copy(update={"timestamp": job.finished_at})
    return ending_id(job.id, event_type), payload


def _payload(
    event_type: EventType,
    event: Event,
    job: JobState,
    *,
    stage: str | None,
    stage_progress: float | None = None,
    message: str | None = None,
) -> WebhookEvent:
    error = (
        JobError(**{k: job.error.get(k) for k in ("stage", "code", "reason")})
        if job.error and job.status in ("failed", "cancelled")
        else None
    )
    with_artifacts = event_type in ("job.completed", "job.stage_completed")
    return WebhookEvent(
        type=event_type,
        timestamp=event.occurred_at,
        data=WebhookJob(
            job_id=job.id,
            kind=job.kind,
            status=job.status,
            progress=job.progress,
            stage=stage,
            stage_progress=stage_progress,
            message=message,
            artifacts=artifact_views(job) if with_artifacts else [],
            error=error,
            url=f"/api/v1/jobs/{job.id}",
        ),
    )
