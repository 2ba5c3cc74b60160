"""The seeds' own clients, unchanged, against Cadenza (COMPAT_ROUTES; docs/compat.md):
Orpheus's `/api/generate`, `/api/status`, `/api/download` and `/api/health/*`, and Music
Assistant's `/api/jobs` and `/api/health`. Each call is one call of the real job API
(`cadenza.gateway.application`); only the shapes differ (`cadenza.gateway.compat_shapes`).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel

from cadenza.gateway.api.params import IdempotencyKey, multipart_form
from cadenza.gateway.application import health as health_checks
from cadenza.gateway.application import jobs, uploads
from cadenza.gateway.application.errors import NotFoundError
from cadenza.gateway.application.generate import GenerateRequest
from cadenza.gateway.compat_shapes import (
    ASSISTANT_FIELDS,
    FILE_ID_PATTERN,
    MAX_FILE_ID,
    AssistantJob,
    OrpheusJob,
    assistant_job,
    file_to_send,
    orpheus_job,
    parse_file_id,
    separation_request,
)
from cadenza.gateway.deps import PrincipalDep, ServicesDep, StoreDep, WriterDep
from cadenza.gateway.downloads import send_object
from cadenza.gateway.errors import ProblemError
from cadenza.gateway.services import Services

# Authenticated like the rest of the API (app.py adds get_caller); the probes are open.
router = APIRouter(tags=["compatibility"])
probes = APIRouter(tags=["compatibility"])

STARTED = time.monotonic()
CHECKED = ("nats", "postgres", "storage")
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "NATS, PostgreSQL or object storage does not answer"}
}
FileId = Annotated[
    str,
    Path(
        pattern=FILE_ID_PATTERN,
        max_length=MAX_FILE_ID,
        description="`<jobId>` (its mastered file) or `<jobId>:<artifact name>`",
    ),
]


@router.post(
    "/api/generate",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Orpheus: blend 2 to 5 catalog songs into a mastered track (the full-song job)",
    responses={422: {"description": "Unknown song, wrong number of songs, bad parameters"}},
)
async def orpheus_generate(
    body: GenerateRequest,
    response: Response,
    services: ServicesDep,
    owner: WriterDep,
    idempotency_key: IdempotencyKey = None,
) -> OrpheusJob:
    """The same job as POST /api/v1/generate, answered in Orpheus's shape."""
    submitted = await jobs.submit(services, owner, body.pipeline(), idempotency_key)
    response.headers["Location"] = f"/api/status/{submitted.job.id}"
    return orpheus_job(submitted.job)


@router.get("/api/status/{job_id}", summary="Orpheus: a job's status, stage and files")
async def orpheus_status(
    job_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep
) -> OrpheusJob:
    return orpheus_job(await jobs.read(services, owner, job_id))


DOWNLOAD: dict[str, Any] = {
    "summary": "Orpheus: download a job's mastered track, or one of its files",
    "response_class": Response,
    "responses": {
        206: {"description": "Partial content"},
        409: {"description": "The job has not finished yet"},
        410: {"description": "Retention removed the job's files"},
        416: {"description": "Range not satisfiable"},
    },
}


@router.get("/api/download/{file_id}", **DOWNLOAD)
@router.head("/api/download/{file_id}", **DOWNLOAD)
async def orpheus_download(
    file_id: FileId, request: Request, services: ServicesDep, store: StoreDep, owner: PrincipalDep
) -> Response:
    job_id, name = parse_file_id(file_id)
    name = file_to_send(await jobs.read(services, owner, job_id), name)
    ref = await jobs.artifact(services, owner, job_id, name)
    return await send_object(
        request,
        store,
        uri=ref["uri"],
        sha256=ref["sha256"],
        media_type=ref["media_type"],
        filename=name,
        gone=f"file {name!r} of job {job_id} is no longer stored",
    )


ASSISTANT_FORM = multipart_form(
    {
        "file": {"type": "string", "format": "binary"},
        "model": {"type": "string", "maxLength": 300},
        "stems": {"type": "string", "description": "e.g. vocals,drums"},
        "format": {"type": "string", "enum": ["wav", "flac", "mp3", "ogg"]},
    },
    required=["file"],
)


@router.post(
    "/api/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Music Assistant: separate an uploaded file into stems",
    openapi_extra=ASSISTANT_FORM,
    responses={
        403: {"description": "It does not fit in the account's storage quota"},
        413: {"description": "Larger than MAX_UPLOAD_BYTES"},
        415: {"description": "Not multipart, or not decodable audio"},
        422: {"description": "No `file`, or a model, stem or format that does not exist"},
        429: {"description": "This account already has PROBES_PER_ACCOUNT files being checked"},
    },
)
async def music_assistant_create_job(
    request: Request, response: Response, services: ServicesDep, owner: WriterDep
) -> AssistantJob:
    """Stored and checked as POST /api/v1/uploads does, then a separation job of it."""
    upload, fields = await uploads.receive_upload_form(services, request, owner, ASSISTANT_FIELDS)
    try:
        submitted = await jobs.submit(services, owner, separation_request(upload.id, fields), None)
    except Exception:
        # The form's fields arrive with the file and are checked after it: a refused job
        # leaves no upload behind.
        await uploads.discard(services, upload)
        raise
    response.headers["Location"] = f"/api/jobs/{submitted.job.id}"
    return assistant_job(submitted.job)


@router.get("/api/jobs/{job_id}", summary="Music Assistant: a separation job and its stems")
async def music_assistant_job(
    job_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep
) -> AssistantJob:
    job = await jobs.read(services, owner, job_id)
    if job.kind != "separation":
        raise NotFoundError(f"separation job {job_id} not found")
    return assistant_job(job)


class SeedHealth(BaseModel):
    status: str
    checks: dict[str, str]


class SeedDetailedHealth(SeedHealth):
    timestamp: datetime
    uptime: float
    version: str


async def _checked(services: Services) -> dict[str, str]:
    """Each dependency "ok"; 503 naming what does not answer."""
    problems = await health_checks.unavailable(services)
    if problems:
        detail = "not ready: " + "; ".join(problems.values())
        raise ProblemError(503, detail, {"Retry-After": "5"}, problems=problems)
    return dict.fromkeys(CHECKED, "ok")


@probes.get("/api/health/live", summary="Orpheus: liveness")
async def orpheus_live() -> SeedHealth:
    return SeedHealth(status="ok", checks={})


@probes.get("/api/health/ready", summary="Orpheus: readiness", responses=NOT_READY)
async def orpheus_ready(services: ServicesDep) -> SeedHealth:
    return SeedHealth(status="ready", checks=await _checked(services))


@probes.get("/api/health/detailed", summary="Orpheus: health with uptime", responses=NOT_READY)
async def orpheus_health(request: Request, services: ServicesDep) -> SeedDetailedHealth:
    return SeedDetailedHealth(
        status="healthy",
        checks=await _checked(services),
        timestamp=datetime.now(UTC),
        uptime=round(time.monotonic() - STARTED, 3),
        version=request.app.version,
    )


@probes.get("/api/health", summary="Music Assistant: health", responses=NOT_READY)
async def music_assistant_health(services: ServicesDep) -> SeedHealth:
    return SeedHealth(status="ok", checks=await _checked(services))
