"""What the webhooks API takes and returns, and the payload a receiver gets."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cadenza.gateway.job_state import Status
from cadenza.gateway.views import ArtifactView, JobError
from cadenza.gateway.webhooks.targets import TargetRefusedError, split_target

EventType = Literal[
    "job.progress", "job.stage_completed", "job.completed", "job.failed", "job.cancelled"
]
EVENT_TYPES: tuple[EventType, ...] = (
    "job.progress",
    "job.stage_completed",
    "job.completed",
    "job.failed",
    "job.cancelled",
)
EVENT_MEANINGS: dict[EventType, str] = {
    "job.progress": "A stage of the job made progress (a few a second at most, per job). "
    "Deliveries are not ordered: one may come after the job's ending; `timestamp` orders them.",
    "job.stage_completed": "A stage of a job with several stages finished; the next one "
    "starts. `artifacts` lists the job's files so far.",
    "job.completed": "The job finished; `artifacts` lists its files. Sent once per job.",
    "job.failed": "The job failed; `error` says where and why. Sent once per job.",
    "job.cancelled": "The job was cancelled. Sent once per job.",
}
MAX_URL_LENGTH = 2048
# http(s), a host without user name or password, then anything without spaces or control
# characters (what the server checks beyond this, no schema can say: where the host resolves).
URL_PATTERN = r"^https?://[^\x00-\x20\x7f@/?#]+([/?#][^\x00-\x20\x7f]*)?$"
URL_SHAPE = re.compile(URL_PATTERN)
MAX_DESCRIPTION_LENGTH = 500


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        json_schema_extra={"pattern": URL_PATTERN},  # checked below, with a sentence
        description="An http or https URL without user name or password. Its host must "
        "resolve to public addresses only (unless the operator allows private targets); "
        "redirects are not followed.",
        examples=["https://example.com/hooks/cadenza"],
    )
    event_types: list[EventType] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="Which job events to send, each once",
        json_schema_extra={"uniqueItems": True},  # checked below, with a sentence
    )
    job_id: uuid.UUID | None = Field(
        default=None, description="Only this job's events (one of yours); all jobs if absent"
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)

    @field_validator("url")
    @classmethod
    def _url_shape(cls, url: str) -> str:
        if URL_SHAPE.match(url) is None:
            try:
                split_target(url)
                why = "must be an http or https URL (in lower case)"
            except TargetRefusedError as e:
                why = str(e)
            raise ValueError(f"the url {why}")
        return url

    @field_validator("event_types")
    @classmethod
    def _distinct(cls, types: list[EventType]) -> list[EventType]:
        if len(set(types)) != len(types):
            raise ValueError("each event type may be named once")
        return types


class WebhookView(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[EventType]
    job_id: uuid.UUID | None
    description: str
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation, the old secret also signs until this time"
    )


class WebhookCreated(WebhookView):
    secret: str = Field(
        description="The signing secret (`whsec_<base64>`). Shown now and never again; "
        "`POST /api/v1/webhooks/{webhook_id}/rotate-secret` makes a new one."
    )


class WebhookSecret(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="The new signing secret, shown this once")
    previous_secret_expires_at: datetime = Field(
        description="Until then deliveries carry a second signature, made with the old secret"
    )


class WebhookPage(BaseModel):
    items: list[WebhookView] = Field(description="Your webhooks, oldest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (newer) page")
    next: str | None = Field(
        default=None, description="The next page's path and query (also the `Link` header)"
    )


DeliveryStatus = Literal["pending", "delivered", "failed"]


class DeliveryView(BaseModel):
    id: uuid.UUID = Field(description="The `webhook-id` header: the same on every attempt")
    event_id: uuid.UUID = Field(description="The webhook event's id")
    event_type: EventType
    job_id: uuid.UUID
    status: DeliveryStatus = Field(
        description="`pending` (not yet answered 2xx; tried again at `next_attempt_at`), "
        "`delivered`, or `failed` (every attempt failed)"
    )
    attempts: int
    last_status_code: int | None = Field(description="The receiver's last HTTP status")
    last_error: str | None = Field(description="Why the last attempt failed, as a sentence")
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")
    next: str | None = Field(
        default=None, description="The next page's path and query (also the `Link` header)"
    )


class WebhookJob(BaseModel):
    job_id: uuid.UUID
    kind: str
    status: Status = Field(description="The job's status when the event happened")
    progress: float = Field(description="The whole job's progress, 0 to 1")
    stage: str | None = Field(description="The stage the event is about, if one")
    stage_progress: float | None = Field(default=None, description="`job.progress` only")
    message: str | None = Field(default=None, description="`job.progress` only")
    artifacts: list[ArtifactView] = Field(
        description="`job.completed` and `job.stage_completed`: the job's files (download "
        "paths relative to the API root, with your credentials)"
    )
    error: JobError | None = Field(description="`job.failed` and `job.cancelled`")
    url: str = Field(description="The job's path, relative to the API root")


class WebhookEvent(BaseModel):
    """The body of every delivery (the Standard Webhooks payload shape)."""

    type: EventType
    timestamp: AwareDatetime = Field(description="When it happened")
    data: WebhookJob
