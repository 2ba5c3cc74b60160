"""What the API returns: response models, built from the projection's state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cadenza.gateway.job_state import JobState, Status
from cadenza.gateway.public_views import without_storage_uris
from cadenza.gateway.repository import Upload


class UploadView(BaseModel):
    id: uuid.UUID
    filename: str
    media_type: str
    format: str
    bytes: int
    sha256: str
    duration_s: float
    sample_rate: int
    channels: int
    created_at: datetime
    project_id: uuid.UUID | None = Field(None, description="The project it was uploaded into")

    @classmethod
    def of(cls, upload: Upload) -> UploadView:
        return cls(
            id=upload.id,
            filename=upload.filename,
            media_type=upload.media_type,
            format=upload.format,
            bytes=upload.bytes,
            sha256=upload.sha256,
            duration_s=upload.duration_s,
            sample_rate=upload.sample_rate,
            channels=upload.channels,
            created_at=upload.created_at,
            project_id=upload.project_id,
        )


class StageView(BaseModel):
    name: str
    status: Status
    progress: float
    details: dict[str, Any] = Field(
        default_factory=dict, description="How the stage ran: model, device, cache hit…"
    )


class ArtifactView(BaseModel):
    name: str
    media_type: str
    bytes: int
    sha256: str
    url: str = Field(description="Download path, relative to the API root")
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


class JobError(BaseModel):
    stage: str | None
    code: str
    reason: str


class JobView(BaseModel):
    id: uuid.UUID
    kind: str
    status: Status
    progress: float
    stages: list[StageView]
    artifacts: list[ArtifactView]
    error: JobError | None
    input: dict[str, Any]
    params: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    pinned: bool = Field(False, description="Kept by retention, with its files")
    artifacts_expired_at: datetime | None = Field(
        None, description="When retention removed the generated files"
    )
    owner: str = Field(description="Who started it")
    project_id: uuid.UUID | None = Field(None, description="The project it was started in")

    @classmethod
    def of(cls, job: JobState) -> JobView:
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            progress=job.progress,
            stages=[StageView(**without_storage_uris(s.as_dict())) for s in job.stages],
            artifacts=artifact_views(job),
            error=JobError(**{k: job.error.get(k) for k in ("stage", "code", "reason")})
            if job.error
            else None,
            input=without_storage_uris(job.input),
            params=without_storage_uris(job.params),
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
            pinned=job.pinned,
            artifacts_expired_at=job.artifacts_expired_at,
            owner=job.owner,
            project_id=job.project_id,
        )


def artifact_views(job: JobState) -> list[ArtifactView]:
    return [
        ArtifactView(
            name=name,
            media_type=ref["media_type"],
            bytes=ref["bytes"],
            sha256=ref["sha256"],
            url=f"/api/v1/jobs/{job.id}/artifacts/{name}",
            duration_s=ref.get("duration_s"),
            sample_rate=ref.get("sample_rate"),
            channels=ref.get("channels"),
        )
        for name, ref in sorted(job.artifacts.items())
    ]


class JobPage(BaseModel):
    items: list[JobView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")
    next: str | None = Field(
        default=None, description="The next page's path and query (also the `Link` header)"
    )


class RecordedEvent(BaseModel):
    subject: str = Field(description="The bus subject, e.g. `effects.requested`")
    occurred_at: datetime
    event: dict[str, Any] = Field(description="The event as published (its AsyncAPI schema)")


class JobHistory(BaseModel):
    job_id: uuid.UUID
    events: list[RecordedEvent] = Field(description="Every event of the job, oldest first")
