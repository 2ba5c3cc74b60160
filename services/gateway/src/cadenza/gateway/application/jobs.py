"""Jobs: submit, read, list, history, cancel, pin, and find an artifact to download.

A job's state has one source of truth, the projection in PostgreSQL: the API's own writes
(accept, cancel, pin) are applied to it before the call returns, and the live feed records
every event before it pushes it to a WebSocket (see `cadenza.gateway.subscribers`), so a
read never shows less than a socket already said.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from cadenza.contracts.composition import BlendSource
from cadenza.contracts.envelope import Event, derive_id
from cadenza.contracts.jobs import JobCancelled, JobDeleted, JobPinned, JobSubmitted
from cadenza.contracts.limits import JobLimits
from cadenza.contracts.pipeline import PipelineCommand
from cadenza.gateway import repository
from cadenza.gateway.application.errors import (
    ConflictError,
    GoneError,
    NotFoundError,
    UnprocessableError,
)
from cadenza.gateway.application.models import available_models
from cadenza.gateway.job_budget import Budget, estimate
from cadenza.gateway.job_inputs import resolve_input, resolve_songs
from cadenza.gateway.job_requests import IDEMPOTENCY_NAMESPACE, AnyJobRequest, Context, plan_job
from cadenza.gateway.job_requests.blend import song_count_problems
from cadenza.gateway.job_state import JobState
from cadenza.gateway.projection import Admission
from cadenza.gateway.projects import access as project_access
from cadenza.gateway.projects.repository import project_ids_of
from cadenza.gateway.services import Services
from cadenza.runtime.logging import job_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitted:
    job: JobState
    # False when an earlier submit with the same Idempotency-Key and body made the job.
    created: bool


def request_digest(request: AnyJobRequest) -> str:
    """The request's fingerprint: the same body (after defaults) gives the same digest."""
    canonical = json.dumps(
        request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def submit(
    services: Services, owner: str, request: AnyJobRequest, idempotency_key: str | None
) -> Submitted:
    """Plan, budget and accept a job (its row and first commands committed together, then
    published). With an Idempotency-Key: the same key and body answer the first job; the
    same key with another body is refused."""
    # The fingerprint matters only to a key's later repeats: not computed without one.
    digest = request_digest(request) if idempotency_key else None
    earlier = await _earlier(services, owner, idempotency_key, digest) if digest else None
    if earlier is not None:
        return Submitted(earlier, created=False)
    if request.project_id is not None:
        await project_access.may_start_jobs(services.pool, owner, request.project_id)
    resolved = await resolve_input(
        request.input, pool=services.pool, broker=services.broker, owner=owner
    )
    songs: tuple[BlendSource, ...] = ()
    if (wanted := request.songs_to_resolve()) is not None:
        field, names = wanted
        if problems := song_count_problems(names, field):
            raise UnprocessableError(problems)
        projects = await project_ids_of(services.pool, owner)
        songs = await resolve_songs(services.broker, owner, field, names, projects)
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
        models=await available_models(services.models),
        source=resolved.source,
        songs=songs,
    )
    if problems := request.problems(context):
        raise UnprocessableError(problems)
    submitted, commands = plan_job(request, context)
    submitted = submitted.model_copy(update={"request_sha256": digest})
    budget, limits = await budget_for(services, owner)
    found, overruns = estimate(commands, budget, midi_tracks=resolved.midi_tracks)
    if overruns:
        raise UnprocessableError(
            [
                {"field": request.budget_field(o.stage, o.param), "message": o.message}
                for o in overruns
            ]
        )
    job = await queue(
        services,
        submitted,
        [with_limits(command, limits) for command in commands],
        idempotency_key,
        reserve_bytes=found.output_bytes,
        admit=partial(services.quotas.admit_job, owner=owner, reserve_bytes=found.output_bytes),
    )
    return Submitted(job, created=True)


async def _earlier(
    services: Services, owner: str, idempotency_key: str | None, digest: str
) -> JobState | None:
    if not idempotency_key:
        return None
    found = await repository.job_for_key(services.pool, owner, idempotency_key)
    if found is None:
        return None
    existing, deleted = found
    if deleted:
        raise UnprocessableError.one(
            "Idempotency-Key",
            f"this key was used for job {existing}, which was deleted; use a new key",
        )
    job = await repository.get_job(services.pool, owner, existing)
    if job is None:
        return None
    first = await repository.submitted_digest(services.pool, existing)
    if first is not None and first != digest:
        raise UnprocessableError.one(
            "Idempotency-Key",
            f"this key was used for job {existing} with a different request; "
            "use a new key for a new job (the same key and body repeat the first answer)",
        )
    return job


async def budget_for(services: Services, owner: str) -> tuple[Budget, JobLimits]:
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


async def queue(
    services: Services,
    submitted: JobSubmitted,
    commands: Sequence[Event],
    idempotency_key: str | None = None,
    *,
    reserve_bytes: int = 0,
    admit: Admission | None = None,
) -> JobState:
    """Accept a job: its row and first events committed together (the outbox), then
    published. If NATS does not confirm them now, the outbox relay publishes them when it
    can: an accepted job is never lost. The account's quotas (`admit`) are checked in the
    same transaction."""
    if idempotency_key:
        submitted = submitted.model_copy(update={"idempotency_key": idempotency_key})
    with job_context(job_id=submitted.job_id, correlation_id=submitted.correlation_id):
        job = await services.projection.accept(
            submitted, commands, idempotency_key, reserve_bytes=reserve_bytes, admit=admit
        )
        assert job is not None
        log.info(
            "accepted %s job for %s (stages: %s)",
            submitted.kind,
            submitted.owner,
            ", ".join(submitted.stages),
        )
        await services.outbox.publish_staged([submitted, *commands])
    return job


async def read(services: Services, owner: str, job_id: uuid.UUID) -> JobState:
    job = await repository.get_job(services.pool, owner, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return job


async def page(
    services: Services,
    owner: str,
    limit: int,
    cursor: str | None,
    project_id: uuid.UUID | None = None,
) -> tuple[list[JobState], str | None]:
    """Newest first; a page and the cursor of the next one (None at the end): the caller's
    jobs, or every job of a project the caller is a member of."""
    if project_id is not None:
        await project_access.member_of(services.pool, owner, project_id)
    try:
        return await repository.list_jobs(services.pool, owner, limit, cursor, project_id)
    except ValueError as e:
        raise UnprocessableError.one("cursor", "not a cursor this API issued") from e


@dataclass(frozen=True)
class HistoryEntry:
    subject: str
    occurred_at: Any
    payload: dict[str, Any]


async def changeable(services: Services, caller: str, job_id: uuid.UUID) -> JobState:
    """The job, if `caller` may cancel, pin or delete it: its owner, or in its project a
    role that starts jobs (a reviewer reads it, no more)."""
    job = await read(services, caller, job_id)
    if job.owner != caller and job.project_id is not None:
        await project_access.may_start_jobs(services.pool, caller, job.project_id)
    return job


async def history(services: Services, owner: str, job_id: uuid.UUID) -> list[HistoryEntry]:
    """Every event the job produced, oldest first, as recorded by the projection."""
    rows = await repository.job_history(services.pool, owner, job_id)
    if rows is None:
        raise NotFoundError(f"job {job_id} not found")
    return [HistoryEntry(r["subject"], r["occurred_at"], r["payload"]) for r in rows]


async def cancel(services: Services, owner: str, job_id: uuid.UUID) -> JobState:
    """Stop a queued or running job: workers are told at once (the cancellation store),
    the projection records it before this returns, then the fact is published."""
    job = await changeable(services, owner, job_id)
    if job.terminal:
        raise ConflictError(
            f"job {job_id} is already {job.status}; only queued or running jobs can be cancelled"
        )
    event = JobCancelled(
        event_id=derive_id(job_id, JobCancelled.subject),
        job_id=job_id,
        owner=job.owner,
        correlation_id=uuid.uuid4(),
    )
    await services.cancellations.cancel(job_id, event.reason)
    after = await services.projection.apply(event)
    await services.bus.publish(event)
    return after or job


async def pin(services: Services, owner: str, job_id: uuid.UUID, pinned: bool) -> JobState:
    """Keep a job and its files past the retention ages (or let retention have them)."""
    job = await changeable(services, owner, job_id)
    if job.artifacts_expired_at is not None and pinned:
        raise ConflictError(f"the files of job {job_id} were already removed; nothing to keep")
    event = JobPinned(
        event_id=uuid.uuid4(), job_id=job_id, owner=job.owner, correlation_id=job_id, pinned=pinned
    )
    after = await services.projection.apply(event)
    await services.bus.publish(event)
    return after or job


async def artifact(services: Services, owner: str, job_id: uuid.UUID, name: str) -> dict[str, Any]:
    """The stored reference of one of the job's files (uri, sha256, media type…)."""
    job = await repository.get_job(services.pool, owner, job_id)
    if job is not None and job.artifacts_expired_at is not None:
        raise GoneError(
            f"the generated files of job {job_id} were removed by retention at "
            f"{job.artifacts_expired_at.isoformat(timespec='seconds')}; pin a job to keep them"
        )
    ref = job.artifacts.get(name) if job else None
    if ref is None:
        raise NotFoundError(f"job {job_id} has no artifact named {name!r}")
    return dict(ref)


async def delete(services: Services, owner: str, job_id: uuid.UUID) -> None:
    """Remove a finished job: its files go, its id answers 404 from then on (its history
    too), and its Idempotency-Key is not reused. A queued or running job is cancelled first."""
    job = await changeable(services, owner, job_id)
    if not job.terminal:
        raise ConflictError(
            f"job {job_id} is {job.status}; cancel it first "
            f"(POST /api/v1/jobs/{job_id}/cancel), then delete it"
        )
    event = JobDeleted(
        event_id=derive_id(job_id, JobDeleted.subject),
        job_id=job_id,
        owner=job.owner,
        correlation_id=uuid.uuid4(),
    )
    await services.projection.apply(event)
    await services.bus.publish(event)
    await services.retention.delete_files(job.artifacts)
