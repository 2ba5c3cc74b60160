"""Jobs: submit, list, inspect, cancel, download artifacts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status

from cadenza.contracts.composition import BlendSource
from cadenza.contracts.envelope import Event, derive_id
from cadenza.contracts.jobs import JobCancelled, JobPinned, JobSubmitted
from cadenza.contracts.limits import JobLimits
from cadenza.contracts.pipeline import PipelineCommand
from cadenza.gateway import repository
from cadenza.gateway.api.routes.models import available_models
from cadenza.gateway.deps import (
    BusDep,
    CancellationsDep,
    HubDep,
    ModelsDep,
    PoolDep,
    PrincipalDep,
    ProjectionDep,
    ServicesDep,
    StoreDep,
    WriterDep,
)
from cadenza.gateway.downloads import send_object
from cadenza.gateway.errors import UnprocessableError
from cadenza.gateway.job_budget import Budget, estimate
from cadenza.gateway.job_inputs import resolve_input, resolve_songs
from cadenza.gateway.job_requests import IDEMPOTENCY_NAMESPACE, Context, JobRequest, plan_job
from cadenza.gateway.job_requests.blend import song_count_problems
from cadenza.gateway.job_state import JobState
from cadenza.gateway.outbox import Outbox
from cadenza.gateway.projection import Admission, Projection
from cadenza.gateway.public_views import without_storage_uris
from cadenza.gateway.services import Services
from cadenza.gateway.views import JobHistory, JobPage, JobView, RecordedEvent
from cadenza.runtime.logging import job_context

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job for this caller"}}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a job",
    responses={
        422: {"description": "Invalid request; `errors` names each field"},
        503: {"description": "The database is unavailable; nothing was accepted"},
    },
)
async def create_job(
    body: JobRequest,
    pool: PoolDep,
    bus: BusDep,
    projection: ProjectionDep,
    registry: ModelsDep,
    hub: HubDep,
    services: ServicesDep,
    owner: WriterDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Repeat a submit safely: same key, same job"),
    ] = None,
) -> JobView:
    if idempotency_key:
        existing = await repository.job_id_for_key(pool, owner, idempotency_key)
        if existing and (job := await repository.get_job(pool, owner, existing)):
            return JobView.of(job)
    resolved = await resolve_input(
        body.input, pool=pool, hub=hub, broker=services.broker, owner=owner
    )
    songs: tuple[BlendSource, ...] = ()
    if (wanted := body.songs_to_resolve()) is not None:
        field, names = wanted
        if problems := song_count_problems(names, field):
            raise UnprocessableError(problems)
        songs = await resolve_songs(services.broker, owner, field, names)
    job_id = (
        uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{owner}/{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    context = Context(
        job_id=job_id,
        owner=owner,
        correlation_id=uuid.uuid4(),
        upload=resolved.upload,
        models=await available_models(registry),
        source=resolved.source,
        songs=songs,
    )
    if problems := body.problems(context):
        raise UnprocessableError(problems)
    submitted, commands = plan_job(body, context)
    budget, limits = await job_budget_for(services, owner)
    found, overruns = estimate(commands, budget, midi_tracks=resolved.midi_tracks)
    if overruns:
        raise UnprocessableError(
            [{"field": body.budget_field(o.stage, o.param), "message": o.message} for o in overruns]
        )
    return JobView.of(
        await queue_job(
            projection,
            services.outbox,
            submitted,
            [with_limits(command, limits) for command in commands],
            idempotency_key,
            reserve_bytes=found.output_bytes,
            admit=partial(services.quotas.admit_job, owner=owner, reserve_bytes=found.output_bytes),
        )
    )


async def job_budget_for(services: Services, owner: str) -> tuple[Budget, JobLimits]:
    """The budget a job of `owner` is estimated against, and the limits its commands carry
    (what a stage may write is also capped by what is left of the owner's quota)."""
    settings = services.settings
    budget = Budget(
        max_output_bytes=settings.max_job_output_bytes,
        max_memory_bytes=settings.max_job_memory_bytes,
        cpu_seconds_per_audio_second=settings.max_cpu_per_audio_second,
        min_cpu_seconds=settings.min_job_cpu_s,
    )
    remaining = (await services.quotas.usage(services.pool, owner)).remaining_bytes
    limits = JobLimits(
        max_output_bytes=min(budget.max_output_bytes, remaining)
        if remaining is not None
        else budget.max_output_bytes,
        max_memory_bytes=budget.max_memory_bytes,
        cpu_seconds_per_audio_second=budget.cpu_seconds_per_audio_second,
        min_cpu_seconds=budget.min_cpu_seconds,
    )
    return budget, limits


def with_limits(command: Event, limits: JobLimits) -> Event:
    if isinstance(command, PipelineCommand):
        return command.model_copy(update={"limits": limits})
    return command


async def queue_job(
    projection: Projection,
    outbox: Outbox,
    submitted: JobSubmitted,
    commands: Sequence[Event],
    idempotency_key: str | None = None,
    *,
    reserve_bytes: int = 0,
    admit: Admission | None = None,
) -> JobState:
    """Accept a job: its row and first events committed together (the outbox), then
    published. If NATS does not confirm them now, the outbox relay publishes them when it
    can: an accepted job is never lost. 503 only when the database cannot commit; the
    account's quotas (`admit`) are checked in the same transaction."""
    if idempotency_key:
        submitted = submitted.model_copy(update={"idempotency_key": idempotency_key})
    with job_context(job_id=submitted.job_id, correlation_id=submitted.correlation_id):
        job = await projection.accept(
            submitted, commands, idempotency_key, reserve_bytes=reserve_bytes, admit=admit
        )
        assert job is not None
        log.info(
            "accepted %s job for %s (stages: %s)",
            submitted.kind,
            submitted.owner,
            ", ".join(submitted.stages),
        )
        await outbox.publish_staged([submitted, *commands])
    return job


async def current_job(pool: PoolDep, hub: HubDep, owner: str, job_id: uuid.UUID) -> JobState | None:
    job = await repository.get_job(pool, owner, job_id)
    return hub.overlay(job) if job else None


@router.get("", summary="Your jobs, newest first")
async def list_jobs(
    pool: PoolDep,
    hub: HubDep,
    owner: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JobPage:
    try:
        jobs, next_cursor = await repository.list_jobs(pool, owner, limit, cursor)
    except ValueError as e:
        raise HTTPException(422, "cursor: not a cursor this API issued") from e
    return JobPage(items=[JobView.of(hub.overlay(j)) for j in jobs], next_cursor=next_cursor)


@router.get("/{job_id}", summary="One job", responses=NOT_FOUND)
async def get_job(job_id: uuid.UUID, pool: PoolDep, hub: HubDep, owner: PrincipalDep) -> JobView:
    job = await current_job(pool, hub, owner, job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id} not found")
    return JobView.of(job)


@router.get(
    "/{job_id}/events",
    summary="A job's history: every event it produced, oldest first",
    responses=NOT_FOUND,
)
async def job_events(
    job_id: uuid.UUID, pool: PoolDep, hub: HubDep, owner: PrincipalDep
) -> JobHistory:
    rows = await repository.job_history(pool, owner, job_id)
    if rows is None:
        raise HTTPException(404, f"job {job_id} not found")
    events = [
        RecordedEvent(
            subject=r["subject"],
            occurred_at=r["occurred_at"],
            event=without_storage_uris(r["payload"]),
        )
        for r in rows
    ]
    # Like a job read, the history agrees with what the WebSocket already said: events this
    # process heard that the projection has not recorded yet are included.
    recorded = {str(e.event.get("event_id")) for e in events}
    heard = [e for e in hub.heard(job_id, owner) if str(e.event_id) not in recorded]
    if heard:
        events += [
            RecordedEvent(
                subject=e.subject,
                occurred_at=e.occurred_at,
                event=without_storage_uris(e.model_dump(mode="json")),
            )
            for e in heard
        ]
        events.sort(key=lambda e: (e.occurred_at, str(e.event.get("event_id"))))
    return JobHistory(job_id=job_id, events=events)


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a queued or running job",
    responses={**NOT_FOUND, 409: {"description": "The job has already finished"}},
)
async def cancel_job(
    job_id: uuid.UUID,
    pool: PoolDep,
    bus: BusDep,
    projection: ProjectionDep,
    cancellations: CancellationsDep,
    hub: HubDep,
    owner: WriterDep,
) -> JobView:
    job = await current_job(pool, hub, owner, job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id} not found")
    if job.terminal:
        raise HTTPException(
            409,
            f"job {job_id} is already {job.status}; only queued or running jobs can be cancelled",
        )
    event = JobCancelled(
        event_id=derive_id(job_id, JobCancelled.subject),
        job_id=job_id,
        owner=owner,
        correlation_id=uuid.uuid4(),
    )
    await cancellations.cancel(job_id, event.reason)
    after = await projection.apply(event)
    await bus.publish(event)
    return JobView.of(after or job)


# GET for the bytes, HEAD for their size and type (separate operations in the OpenAPI).
ARTIFACT_DOWNLOAD: dict[str, Any] = {
    "summary": "Download an artifact (Range requests supported)",
    "response_class": Response,
    "responses": {
        **NOT_FOUND,
        206: {"description": "Partial content"},
        416: {"description": "Range not satisfiable"},
    },
}


@router.get("/{job_id}/artifacts/{name}", **ARTIFACT_DOWNLOAD)
@router.head("/{job_id}/artifacts/{name}", **ARTIFACT_DOWNLOAD)
async def download_artifact(
    job_id: uuid.UUID,
    name: str,
    request: Request,
    pool: PoolDep,
    hub: HubDep,
    store: StoreDep,
    owner: PrincipalDep,
) -> Response:
    job = await current_job(pool, hub, owner, job_id)
    if job is not None and job.artifacts_expired_at is not None:
        raise HTTPException(
            410,
            f"the generated files of job {job_id} were removed by retention at "
            f"{job.artifacts_expired_at.isoformat(timespec='seconds')}; pin a job to keep them",
        )
    ref = job.artifacts.get(name) if job else None
    if job is None or ref is None:
        raise HTTPException(404, f"job {job_id} has no artifact named {name!r}")
    return await send_object(
        request,
        store,
        uri=ref["uri"],
        sha256=ref["sha256"],
        media_type=ref["media_type"],
        filename=name,
        gone=f"artifact {name!r} of job {job_id} is no longer stored",
    )


async def _pin(services: Services, owner: str, job_id: uuid.UUID, pinned: bool) -> JobView:
    job = await current_job(services.pool, services.hub, owner, job_id)
    if job is None:
        raise HTTPException(404, f"job {job_id} not found")
    if job.artifacts_expired_at is not None and pinned:
        raise HTTPException(409, f"the files of job {job_id} were already removed; nothing to keep")
    event = JobPinned(
        event_id=uuid.uuid4(), job_id=job_id, owner=owner, correlation_id=job_id, pinned=pinned
    )
    await services.bus.publish(event)
    after = await services.projection.apply(event)
    return JobView.of(services.hub.overlay(after or job))


@router.post(
    "/{job_id}/pin",
    summary="Keep a job and its files past the retention ages",
    responses={**NOT_FOUND, 409: {"description": "Its files are already gone"}},
)
async def pin_job(job_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> JobView:
    return await _pin(services, owner, job_id, True)


@router.delete("/{job_id}/pin", summary="Let retention remove the job in time", responses=NOT_FOUND)
async def unpin_job(job_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> JobView:
    return await _pin(services, owner, job_id, False)
