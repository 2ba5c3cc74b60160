"""What the seeds' own clients send and read: Orpheus's and Music Assistant's requests and
answers, mapped onto Cadenza's jobs (docs/compat.md states each shape; keep them stable,
those clients are not ours to change).

Orpheus (a Node service) speaks camelCase with progress in whole percent; Music Assistant
(a Python one) snake_case. Both say `processing` where Cadenza says `running`, and Music
Assistant `pending` where Cadenza says `queued`.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from cadenza.contracts.artifacts import ARTIFACT_NAME_PATTERN
from cadenza.gateway.application.errors import (
    ConflictError,
    GoneError,
    NotFoundError,
    UnprocessableError,
)
from cadenza.gateway.job_requests.common import UploadInput
from cadenza.gateway.job_requests.separation import SeparationJobRequest, SeparationParams
from cadenza.gateway.job_state import JobState

# `<job id>` (the job's main file) or `<job id>:<artifact name>`.
FILE_ID_PATTERN = (
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"(:" + ARTIFACT_NAME_PATTERN.removeprefix("^").removesuffix("$") + r")?$"
)
MAX_FILE_ID = 36 + 1 + 73
# The file a full-song job is for: its master stage's output (`mastered.wav`, `.flac`, …).
MAIN_FILE = re.compile(r"^mastered\.[A-Za-z0-9]{1,8}$")

OrpheusStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]
AssistantStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]


def percent(progress: float) -> int:
    return int(progress * 100)


def error_sentence(job: JobState) -> str | None:
    if job.error is None:
        return None
    reason = str(job.error.get("reason") or job.error.get("code") or job.status)
    stage = job.error.get("stage")
    return f"{stage}: {reason}" if stage else reason


class Camel(BaseModel):
    """Written in camelCase, as Orpheus's clients read it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class OrpheusFile(Camel):
    file_id: str = Field(description="`<jobId>:<name>`; GET /api/download/{fileId} sends it")
    name: str
    media_type: str
    bytes: int
    sha256: str
    download_url: str


class OrpheusResult(Camel):
    file_id: str | None = Field(
        description="The mastered track (the job id itself), or null when the job has none"
    )
    download_url: str | None
    files: list[OrpheusFile]


class OrpheusStage(Camel):
    name: str
    status: OrpheusStatus
    progress: int = Field(ge=0, le=100)


class OrpheusJob(Camel):
    job_id: uuid.UUID
    status: OrpheusStatus
    progress: int = Field(ge=0, le=100, description="Whole percent")
    stage: str | None = Field(description="The stage running now (blend, render, master)")
    stages: list[OrpheusStage]
    status_url: str
    result: OrpheusResult | None = Field(description="Set once the job has completed")
    error: str | None = Field(description="Why the job failed or was cancelled, a sentence")
    created_at: datetime
    updated_at: datetime


def _orpheus_status(status: str) -> OrpheusStatus:
    return "processing" if status == "running" else status  # type: ignore[return-value]


def orpheus_job(job: JobState) -> OrpheusJob:
    running = next((s.name for s in job.stages if s.status == "running"), None)
    result = None
    if job.status == "completed":
        main = main_file(job)
        result = OrpheusResult(
            file_id=str(job.id) if main else None,
            download_url=f"/api/download/{job.id}" if main else None,
            files=[
                OrpheusFile(
                    file_id=f"{job.id}:{name}",
                    name=name,
                    media_type=ref["media_type"],
                    bytes=ref["bytes"],
                    sha256=ref["sha256"],
                    download_url=f"/api/download/{job.id}:{name}",
                )
                for name, ref in sorted(job.artifacts.items())
            ],
        )
    return OrpheusJob(
        job_id=job.id,
        status=_orpheus_status(job.status),
        progress=percent(job.progress),
        stage=None if job.terminal else running,
        stages=[
            OrpheusStage(
                name=s.name, status=_orpheus_status(s.status), progress=percent(s.progress)
            )
            for s in job.stages
        ],
        status_url=f"/api/status/{job.id}",
        result=result,
        error=error_sentence(job),
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def main_file(job: JobState) -> str | None:
    return next((name for name in sorted(job.artifacts) if MAIN_FILE.match(name)), None)


def parse_file_id(file_id: str) -> tuple[uuid.UUID, str | None]:
    """The job and artifact name a file id names (None: the job's main file). The path
    parameter's pattern has already checked the grammar."""
    job_id, _, name = file_id.partition(":")
    return uuid.UUID(job_id), name or None


def file_to_send(job: JobState, name: str | None) -> str:
    """The artifact name behind a file id; refused, with what to do, while there is none."""
    if job.artifacts_expired_at is not None:
        raise GoneError(
            f"the files of job {job.id} were removed by retention at "
            f"{job.artifacts_expired_at.isoformat(timespec='seconds')}"
        )
    if name is not None:
        return name
    if not job.terminal:
        raise ConflictError(
            f"job {job.id} is {_orpheus_status(job.status)}; its file can be downloaded "
            "once GET /api/status/{jobId} says completed"
        )
    if (main := main_file(job)) is None:
        files = ", ".join(f"{job.id}:{n}" for n in sorted(job.artifacts)) or "none"
        raise NotFoundError(f"job {job.id} has no mastered file (its files: {files})")
    return main


class AssistantStem(BaseModel):
    name: str = Field(description="The stem: vocals, drums, bass, other, guitar, piano")
    filename: str
    url: str = Field(description="Download path (Cadenza's artifact route; Range supported)")
    media_type: str
    bytes: int
    sha256: str


class AssistantJob(BaseModel):
    id: uuid.UUID
    status: AssistantStatus
    progress: int = Field(ge=0, le=100, description="Whole percent")
    model: str | None
    stems: list[AssistantStem] = Field(description="Empty until the job has completed")
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def _assistant_status(status: str) -> AssistantStatus:
    mapped = {"queued": "pending", "running": "processing"}.get(status, status)
    return mapped  # type: ignore[return-value]


def assistant_job(job: JobState) -> AssistantJob:
    return AssistantJob(
        id=job.id,
        status=_assistant_status(job.status),
        progress=percent(job.progress),
        model=job.params.get("model"),
        stems=[
            AssistantStem(
                name=name.rsplit(".", 1)[0],
                filename=name,
                url=f"/api/v1/jobs/{job.id}/artifacts/{name}",
                media_type=ref["media_type"],
                bytes=ref["bytes"],
                sha256=ref["sha256"],
            )
            for name, ref in sorted(job.artifacts.items())
        ],
        error=error_sentence(job),
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
    )


# Music Assistant's form: the audio in `file`, and optionally these text fields.
ASSISTANT_FIELDS = frozenset({"model", "stems", "format"})


def separation_request(upload_id: uuid.UUID, fields: dict[str, str]) -> SeparationJobRequest:
    """The separation job a Music Assistant form asks for: `model` (a name from
    GET /api/v1/models; default htdemucs, else the classical method), `stems` (comma-
    separated; default all the model has), `format` (wav, flac, mp3 or ogg; default wav)."""
    options: dict[str, object] = {}
    if model := fields.get("model", "").strip():
        options["model"] = model
    if stems := [s.strip() for s in fields.get("stems", "").split(",") if s.strip()]:
        options["stems"] = stems
    if output := fields.get("format", "").strip():
        options["format"] = output
    try:
        params = SeparationParams.model_validate(options)
    except ValidationError as e:
        raise UnprocessableError(
            [
                {"field": ".".join(str(p) for p in error["loc"]) or "form", "message": error["msg"]}
                for error in e.errors()
            ]
        ) from None
    return SeparationJobRequest(
        kind="separation", input=UploadInput(upload_id=upload_id), params=params
    )
