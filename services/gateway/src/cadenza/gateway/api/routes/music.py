"""One-call music endpoints: blend catalog songs into a rendered, mastered track.

`POST /api/v1/generate` and `POST /api/v1/music/generate/full-song` submit the `full-song`
pipeline (blend → render → master) as one job; a "project" is that job, seen through
`/api/v1/music/project/{id}/aggregate` (every stage's metadata and the computed progress)
and `/status`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from cadenza.gateway.api.params import IdempotencyKey, job_location
from cadenza.gateway.application import jobs
from cadenza.gateway.application.errors import NotFoundError
from cadenza.gateway.application.generate import GenerateRequest
from cadenza.gateway.deps import PrincipalDep, ServicesDep, WriterDep
from cadenza.gateway.job_state import JobState
from cadenza.gateway.services import Services
from cadenza.gateway.views import ArtifactView, JobView, artifact_views

router = APIRouter(tags=["music"])


class ProjectStage(BaseModel):
    name: str
    status: str
    progress: float
    details: dict[str, Any]


class ProjectStatus(BaseModel):
    project_id: uuid.UUID
    status: str
    progress: float
    current_stage: str | None
    stages: list[ProjectStage]
    error: dict[str, Any] | None


class ProjectAggregate(ProjectStatus):
    project: JobView
    artifacts: list[ArtifactView]
    # The blend's summary (key, tempo, sections, chords, influence, originality…) and the
    # master's measured loudness, lifted out of the stages for convenience.
    composition: dict[str, Any] | None
    mastering: dict[str, Any] | None


def _status(job: JobState) -> ProjectStatus:
    current = next((s.name for s in job.stages if s.status in ("queued", "running")), None)
    return ProjectStatus(
        project_id=job.id,
        status=job.status,
        progress=round(job.progress, 4),
        current_stage=None if job.terminal else current,
        stages=[ProjectStage(**s.as_dict()) for s in job.stages],
        error=job.error,
    )


async def _project(services: Services, owner: str, project_id: uuid.UUID) -> JobState:
    try:
        job = await jobs.read(services, owner, project_id)
    except NotFoundError:
        job = None
    if job is None or job.kind != "pipeline":
        raise NotFoundError(f"project {project_id} not found")
    return job


@router.post(
    "/api/v1/generate",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Blend catalog songs into a rendered, mastered track (the full-song pipeline)",
    responses={422: {"description": "Unknown song, wrong number of songs, bad parameters"}},
)
async def generate(
    body: GenerateRequest,
    response: Response,
    services: ServicesDep,
    owner: WriterDep,
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    submitted = await jobs.submit(services, owner, body.pipeline(), idempotency_key)
    response.headers["Location"] = job_location(submitted.job.id)
    return JobView.of(submitted.job)


@router.post(
    "/api/v1/music/generate/full-song",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a full-song project: blend → render → master",
    responses={422: {"description": "Unknown song, wrong number of songs, bad parameters"}},
)
async def generate_full_song(
    body: GenerateRequest,
    response: Response,
    services: ServicesDep,
    owner: WriterDep,
    idempotency_key: IdempotencyKey = None,
) -> ProjectStatus:
    """The same job as POST /api/v1/generate, answered as the project's status."""
    submitted = await jobs.submit(services, owner, body.pipeline(), idempotency_key)
    response.headers["Location"] = f"/api/v1/music/project/{submitted.job.id}/status"
    return _status(submitted.job)


@router.get(
    "/api/v1/music/project/{project_id}/status",
    summary="A project's status, current stage and progress",
    responses={404: {"description": "No such project for this caller"}},
)
async def project_status(
    project_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep
) -> ProjectStatus:
    return _status(await _project(services, owner, project_id))


@router.get(
    "/api/v1/music/project/{project_id}/aggregate",
    summary="A project with every stage's metadata, its artifacts and computed progress",
    responses={404: {"description": "No such project for this caller"}},
)
async def project_aggregate(
    project_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep
) -> ProjectAggregate:
    job = await _project(services, owner, project_id)
    steps = {step["stage"]: step["kind"] for step in job.params.get("steps", [])}
    by_kind = {steps.get(s.name, s.name): s.details for s in job.stages if s.details}
    return ProjectAggregate(
        **_status(job).model_dump(),
        project=JobView.of(job),
        artifacts=artifact_views(job),
        composition=by_kind.get("blend"),
        mastering=by_kind.get("master"),
    )
