"""Jobs: submit, list, inspect, cancel, pin, download artifacts (adapters over
`cadenza.gateway.application.jobs`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from cadenza.gateway.api.params import IdempotencyKey, job_location
from cadenza.gateway.application import jobs
from cadenza.gateway.deps import PrincipalDep, ServicesDep, StoreDep, WriterDep
from cadenza.gateway.downloads import DOWNLOAD_RESPONSES, send_object
from cadenza.gateway.job_requests import JobRequest
from cadenza.gateway.pagination import next_link
from cadenza.gateway.public_views import without_storage_uris
from cadenza.gateway.views import JobHistory, JobPage, JobView, RecordedEvent

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job for this caller"}}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit a job",
    responses={
        422: {"description": "Invalid request, or an Idempotency-Key reused with another body"},
        503: {"description": "The database is unavailable; nothing was accepted"},
    },
)
async def create_job(
    body: JobRequest,
    response: Response,
    services: ServicesDep,
    owner: WriterDep,
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    submitted = await jobs.submit(services, owner, body, idempotency_key)
    response.headers["Location"] = job_location(submitted.job.id)
    return JobView.of(submitted.job)


@router.get("", summary="Your jobs (or a project's), newest first")
async def list_jobs(
    request: Request,
    response: Response,
    services: ServicesDep,
    owner: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    project_id: Annotated[
        uuid.UUID | None, Query(description="Every job of this project (you are a member)")
    ] = None,
) -> JobPage:
    found, next_cursor = await jobs.page(services, owner, limit, cursor, project_id)
    return JobPage(
        items=[JobView.of(j) for j in found],
        next_cursor=next_cursor,
        next=next_link(request, response, next_cursor),
    )


@router.get("/{job_id}", summary="One job", responses=NOT_FOUND)
async def get_job(job_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep) -> JobView:
    return JobView.of(await jobs.read(services, owner, job_id))


@router.get(
    "/{job_id}/events",
    summary="A job's history: every event it produced, oldest first",
    responses=NOT_FOUND,
)
async def job_events(job_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep) -> JobHistory:
    entries = await jobs.history(services, owner, job_id)
    return JobHistory(
        job_id=job_id,
        events=[
            RecordedEvent(
                subject=e.subject,
                occurred_at=e.occurred_at,
                event=without_storage_uris(e.payload),
            )
            for e in entries
        ],
    )


CANCEL: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "responses": {**NOT_FOUND, 409: {"description": "The job has already finished"}},
}


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job", **CANCEL)
async def cancel_job(
    job_id: uuid.UUID, response: Response, services: ServicesDep, owner: WriterDep
) -> JobView:
    response.headers["Location"] = job_location(job_id)
    return JobView.of(await jobs.cancel(services, owner, job_id))


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a finished job: its files go and its id answers 404 from then on",
    responses={**NOT_FOUND, 409: {"description": "The job is queued or running: cancel it first"}},
)
async def delete_job(job_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> Response:
    await jobs.delete(services, owner, job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# GET for the bytes, HEAD for their size and type (separate operations in the OpenAPI).
ARTIFACT_DOWNLOAD: dict[str, Any] = {
    "summary": "Download an artifact (Range requests supported)",
    "response_class": Response,
    "responses": {
        **NOT_FOUND,
        **DOWNLOAD_RESPONSES,
        410: {"description": "Retention removed the job's files"},
    },
}


@router.get("/{job_id}/artifacts/{name}", **ARTIFACT_DOWNLOAD)
@router.head("/{job_id}/artifacts/{name}", **ARTIFACT_DOWNLOAD)
async def download_artifact(
    job_id: uuid.UUID,
    name: str,
    request: Request,
    services: ServicesDep,
    store: StoreDep,
    owner: PrincipalDep,
) -> Response:
    ref = await jobs.artifact(services, owner, job_id, name)
    return await send_object(
        request,
        store,
        uri=ref["uri"],
        sha256=ref["sha256"],
        media_type=ref["media_type"],
        filename=name,
        gone=f"artifact {name!r} of job {job_id} is no longer stored",
    )


@router.post(
    "/{job_id}/pin",
    summary="Keep a job and its files past the retention ages",
    responses={**NOT_FOUND, 409: {"description": "Its files are already gone"}},
)
async def pin_job(job_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> JobView:
    return JobView.of(await jobs.pin(services, owner, job_id, True))


@router.delete("/{job_id}/pin", summary="Let retention remove the job in time", responses=NOT_FOUND)
async def unpin_job(job_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> JobView:
    return JobView.of(await jobs.pin(services, owner, job_id, False))
