"""Jobs: submit, list, inspect, cancel, download artifacts."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from cadenza.contracts.envelope import derive_id
from cadenza.contracts.jobs import JobCancelled, StageFailed
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
    StoreDep,
)
from cadenza.gateway.errors import UnprocessableError
from cadenza.gateway.job_requests import IDEMPOTENCY_NAMESPACE, Context, JobRequest, plan_job
from cadenza.gateway.job_state import JobState
from cadenza.gateway.views import JobPage, JobView
from cadenza.runtime.storage import ObjectNotFoundError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job for this caller"}}


class QueueingFailed(StageFailed):
    """Recorded (not published) when the bus refused a job's first events."""

    subject = "job.queueing_failed"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a job",
    responses={
        422: {"description": "Invalid request; `errors` names each field"},
        503: {"description": "The event bus is unavailable; nothing was queued"},
    },
)
async def create_job(
    body: JobRequest,
    pool: PoolDep,
    bus: BusDep,
    projection: ProjectionDep,
    registry: ModelsDep,
    owner: PrincipalDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Repeat a submit safely: same key, same job"),
    ] = None,
) -> JobView:
    if idempotency_key:
        existing = await repository.job_id_for_key(pool, owner, idempotency_key)
        if existing and (job := await repository.get_job(pool, owner, existing)):
            return JobView.of(job)
    upload = await repository.get_upload(pool, owner, body.input.upload_id)
    if upload is None:
        raise UnprocessableError.one("input.upload_id", f"no upload with id {body.input.upload_id}")
    job_id = (
        uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{owner}/{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    context = Context(
        job_id=job_id,
        owner=owner,
        correlation_id=uuid.uuid4(),
        upload=upload,
        models=await available_models(registry),
    )
    if problems := body.problems(context):
        raise UnprocessableError(problems)
    submitted, commands = plan_job(body, context)
    # Recording the job and queueing its events are independent: do them at once.
    recording = asyncio.ensure_future(projection.apply(submitted, idempotency_key=idempotency_key))
    try:
        await asyncio.gather(bus.publish(submitted), *(bus.publish(c) for c in commands))
    except Exception as e:
        await recording
        log.exception("could not queue job %s", job_id)
        failure = QueueingFailed.caused_by(
            submitted,
            stage=submitted.stages[0],
            code="internal",
            reason=f"the job could not be queued: the event bus is unavailable ({e})",
        )
        await projection.apply(failure)
        raise HTTPException(503, "the event bus is unavailable; the job was not queued") from e
    job = await recording
    assert job is not None
    return JobView.of(job)


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
    owner: PrincipalDep,
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


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` range as [start, end); None to send the whole file; ValueError → 416."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple or unknown ranges: ignoring Range is allowed (RFC 9110)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        raise ValueError("range not satisfiable")
    return start, end


@router.api_route(
    "/{job_id}/artifacts/{name}",
    methods=["GET", "HEAD"],
    summary="Download an artifact (Range requests supported)",
    response_class=Response,
    responses={
        **NOT_FOUND,
        206: {"description": "Partial content"},
        416: {"description": "Range not satisfiable"},
    },
)
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
    ref = job.artifacts.get(name) if job else None
    if job is None or ref is None:
        raise HTTPException(404, f"job {job_id} has no artifact named {name!r}")
    key = store.key_for(ref["uri"])
    try:
        size = await store.size(key)
    except ObjectNotFoundError as e:
        raise HTTPException(404, f"artifact {name!r} of job {job_id} is no longer stored") from e
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{ref["sha256"]}"',
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    start, end, code = 0, size, 200
    range_header = request.headers.get("range")
    if range_header and request.headers.get("if-range", headers["ETag"]) == headers["ETag"]:
        try:
            chosen = parse_range(range_header, size)
        except ValueError:
            raise HTTPException(
                416,
                f"range {range_header!r} is outside the artifact's {size} bytes",
                headers={"Content-Range": f"bytes */{size}"},
            ) from None
        if chosen:
            start, end, code = *chosen, 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=code, headers=headers, media_type=ref["media_type"])
    return StreamingResponse(
        store.read_range(key, start, end),
        status_code=code,
        headers=headers,
        media_type=ref["media_type"],
    )
