"""What the projects API takes and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.envelope import OWNER_PATTERN
from cadenza.contracts.projects import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    EMAIL_MAX,
    KEY_PATTERN,
    NAME_MAX,
    NOTE_MAX,
    TEMPO_MAX_BPM,
    TEMPO_MIN_BPM,
    TIME_SIGNATURE_PATTERN,
    CommentAnchor,
    Decision,
    GrantableRole,
    ProjectRole,
    ProjectSettings,
)

EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"


class ProjectCreate(ProjectSettings):
    """A new project: you are its owner."""


class ProjectPatch(BaseModel):
    """The settings to change; the others stay as they are (`key`: null clears it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str | None = Field(
        default=None, min_length=1, max_length=NAME_MAX, pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX, pattern=r"^[^\x00]*$")
    tempo_bpm: float | None = Field(default=None, ge=TEMPO_MIN_BPM, le=TEMPO_MAX_BPM)
    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    time_signature: str | None = Field(default=None, pattern=TIME_SIGNATURE_PATTERN)

    def applied_to(self, settings: ProjectSettings) -> ProjectSettings:
        changes: dict[str, Any] = self.model_dump(exclude_unset=True)
        for name in ("name", "description", "tempo_bpm", "time_signature"):
            if name in changes and changes[name] is None:
                del changes[name]  # only the key can be cleared
        return settings.model_copy(update=changes)


class ProjectView(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    tempo_bpm: float
    key: str | None
    time_signature: str
    owner_id: str
    your_role: ProjectRole = Field(description="The caller's role in this project")
    members: int
    archived: bool
    archived_at: datetime | None
    version: int = Field(description="How many changes the project has had (its last event)")
    created_at: datetime
    updated_at: datetime


class ProjectPage(BaseModel):
    items: list[ProjectView]
    next_cursor: str | None
    next: str | None


class MemberView(BaseModel):
    account_id: str
    email: str | None
    role: ProjectRole
    joined_at: datetime


class MemberList(BaseModel):
    items: list[MemberView]


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: GrantableRole


class OwnershipTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=OWNER_PATTERN, description="A member of the project")


class InvitationCreate(BaseModel):
    """Invite an account by its id, or whoever signs in with an email address."""

    model_config = ConfigDict(
        extra="forbid",
        # One of the two, as a string; the other absent or null.
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["account_id"],
                    "properties": {"account_id": {"type": "string"}, "email": {"type": "null"}},
                },
                {
                    "required": ["email"],
                    "properties": {"email": {"type": "string"}, "account_id": {"type": "null"}},
                },
            ]
        },
    )

    account_id: str | None = Field(default=None, pattern=OWNER_PATTERN)
    email: str | None = Field(default=None, max_length=EMAIL_MAX, pattern=EMAIL_PATTERN)
    role: GrantableRole

    @model_validator(mode="after")
    def _one_invitee(self) -> Self:
        if (self.account_id is None) == (self.email is None):
            raise ValueError("give account_id or email, one of them")
        return self


class InvitationView(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_name: str | None
    account_id: str | None
    email: str | None
    role: GrantableRole
    invited_by: str
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None


class InvitationPage(BaseModel):
    items: list[InvitationView]
    next_cursor: str | None
    next: str | None


class InvitationList(BaseModel):
    items: list[InvitationView]


class ActivityEntry(BaseModel):
    sequence: int
    type: str = Field(description="The event's subject, e.g. project.member.removed")
    actor: str
    at: datetime
    data: dict[str, Any] = Field(description="The event's own fields")


class ActivityPage(BaseModel):
    items: list[ActivityEntry]
    next_cursor: str | None
    next: str | None


class CommentCreate(BaseModel):
    """A comment on the project, anchored (a track or a job's artifact, a time range) or
    not; a reply names its comment (`parent_id`)."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=COMMENT_MAX, pattern=r"^[^\x00]*\S[^\x00]*$")
    anchor: CommentAnchor | None = None
    parent_id: uuid.UUID | None = None


class CommentView(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    author: str
    body: str
    anchor: CommentAnchor | None
    parent_id: uuid.UUID | None
    resolved: bool
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime


class CommentPage(BaseModel):
    items: list[CommentView]
    next_cursor: str | None
    next: str | None


class ApprovalCreate(BaseModel):
    """A decision on the current version of one of the project's jobs' artifacts."""

    model_config = ConfigDict(extra="forbid")

    job_id: uuid.UUID
    artifact: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
    decision: Decision
    note: str = Field(default="", max_length=NOTE_MAX, pattern=r"^[^\x00]*$")


class ApprovalView(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID
    artifact: str
    sha256: str = Field(description="The artifact's version the decision is about")
    decision: Decision
    reviewer: str
    note: str
    created_at: datetime


class ApprovalPage(BaseModel):
    items: list[ApprovalView]
    review_state: list[ApprovalView] = Field(
        description="Each artifact version's latest decision (the 100 newest)"
    )
    next_cursor: str | None
    next: str | None


class TrackMixView(BaseModel):
    gain: float = Field(description="Linear, 0–1.5")
    pan: float = Field(description="−1 (left) .. 1 (right)")
    mute: bool
    solo: bool
    effects: dict[str, float]


class SharedMixView(BaseModel):
    seq: int = Field(description="How many changes it has had (0: never edited)")
    tracks: dict[str, TrackMixView] = Field(
        description="By track id (a stem's artifact name, e.g. vocals.wav)"
    )


class MixJobCreate(BaseModel):
    """Mix the stems of one of the project's jobs as the shared mix sets them."""

    model_config = ConfigDict(extra="forbid")

    job_id: uuid.UUID = Field(description="A job of the project with stems (a separation)")
    master: bool = Field(default=False, description="Master the mix too (streaming preset)")
