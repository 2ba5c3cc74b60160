"""A project's events: the workspace AriaForge had, as facts on the bus.

A project groups uploads, songs, jobs and artifacts; its members have a role in it
(`PROJECT_ROLES`). The gateway decides each change (who may do what) and publishes what it
decided as one of these events, on `project.…` subjects of the PROJECTS stream; folding a
project's events in order gives its state (what `cadenza-replay rebuild` does).
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.envelope import OWNER_PATTERN, Envelope

ProjectRole = Literal["owner", "admin", "producer", "artist", "reviewer"]
# Most to least: owner (everything), admin (project management: members, settings),
# producer (composition and arrangement), artist (performance and editing), reviewer
# (reads, comments and approves).
PROJECT_ROLES: tuple[ProjectRole, ...] = ("owner", "admin", "producer", "artist", "reviewer")
# Roles an invitation or a role change may give: there is one owner, made by a transfer.
GrantableRole = Literal["admin", "producer", "artist", "reviewer"]

NAME_MAX = 120
DESCRIPTION_MAX = 2000
# Canonical spellings only, so that every client reads the same thing: "C major", "F# minor".
KEY_PATTERN = r"^[A-G][#b]? (major|minor)$"
TIME_SIGNATURE_PATTERN = r"^([1-9]|[12][0-9]|3[0-2])/(1|2|4|8|16|32)$"
TEMPO_MIN_BPM = 20.0
TEMPO_MAX_BPM = 400.0
EMAIL_MAX = 254


class ProjectSettings(BaseModel):
    """What a project is: its name and musical frame."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=r"^[^\x00-\x1f\x7f]+$")
    description: str = Field(default="", max_length=DESCRIPTION_MAX, pattern=r"^[^\x00]*$")
    tempo_bpm: float = Field(default=120.0, ge=TEMPO_MIN_BPM, le=TEMPO_MAX_BPM)
    key: str | None = Field(
        default=None, pattern=KEY_PATTERN, description='e.g. "C major", "F# minor", "Eb major"'
    )
    time_signature: str = Field(default="4/4", pattern=TIME_SIGNATURE_PATTERN)


class ProjectEvent(Envelope):
    """Base of a project's events: which project, the account that did it, and where it
    stands in the project's history (1, 2, 3…: the order the gateway decided them in, which
    the order they reach the stream need not be; a rebuild folds them in this order)."""

    project_id: uuid.UUID
    actor: str = Field(pattern=OWNER_PATTERN)
    sequence: int = Field(ge=1)


class ProjectCreated(ProjectEvent):
    """A new project; `actor` is its owner."""

    subject: ClassVar[str] = "project.created"
    settings: ProjectSettings


class ProjectUpdated(ProjectEvent):
    """Its settings after the change (all of them: folding needs no earlier event)."""

    subject: ClassVar[str] = "project.updated"
    settings: ProjectSettings


class ProjectArchived(ProjectEvent):
    """Read-only from now on: nothing can be started, edited or invited in it."""

    subject: ClassVar[str] = "project.archived"


class ProjectRestored(ProjectEvent):
    subject: ClassVar[str] = "project.restored"


class MemberInvited(ProjectEvent):
    """An invitation, to an account (by id) or to whoever holds an email address."""

    subject: ClassVar[str] = "project.invitation.sent"
    invitation_id: uuid.UUID
    account_id: str | None = Field(default=None, pattern=OWNER_PATTERN)
    email: str | None = Field(default=None, max_length=EMAIL_MAX)
    role: GrantableRole
    expires_at: AwareDatetime


class InvitationAccepted(ProjectEvent):
    """`actor` accepted and is a member with the invitation's role."""

    subject: ClassVar[str] = "project.invitation.accepted"
    invitation_id: uuid.UUID
    role: GrantableRole


class InvitationDeclined(ProjectEvent):
    subject: ClassVar[str] = "project.invitation.declined"
    invitation_id: uuid.UUID


class InvitationRevoked(ProjectEvent):
    subject: ClassVar[str] = "project.invitation.revoked"
    invitation_id: uuid.UUID


class MemberRoleChanged(ProjectEvent):
    subject: ClassVar[str] = "project.member.role_changed"
    account_id: str = Field(pattern=OWNER_PATTERN)
    role: GrantableRole


class MemberRemoved(ProjectEvent):
    """`account_id` is no longer a member: removed by `actor`, or left (actor == account)."""

    subject: ClassVar[str] = "project.member.removed"
    account_id: str = Field(pattern=OWNER_PATTERN)
    reason: Literal["removed", "left"]


class OwnershipTransferred(ProjectEvent):
    """`to_account` (a member) is the owner; the previous owner stays on as an admin."""

    subject: ClassVar[str] = "project.ownership.transferred"
    from_account: str = Field(pattern=OWNER_PATTERN)
    to_account: str = Field(pattern=OWNER_PATTERN)


COMMENT_MAX = 2000
NOTE_MAX = 2000


class CommentAnchor(BaseModel):
    """Where a comment points: a track (a stem's or an artifact's name), or a job's artifact,
    and a time range in seconds; all optional (a comment on the whole project has none)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        # An artifact comes with its job; an end with a start (that it is no earlier than
        # the start, no JSON Schema can say).
        json_schema_extra={
            "allOf": [
                {
                    "if": {
                        "required": ["artifact"],
                        "properties": {"artifact": {"type": "string"}},
                    },
                    "then": {"required": ["job_id"], "properties": {"job_id": {"type": "string"}}},
                },
                {
                    "if": {"required": ["end_s"], "properties": {"end_s": {"type": "number"}}},
                    "then": {
                        "required": ["start_s"],
                        "properties": {"start_s": {"type": "number"}},
                    },
                },
            ]
        },
    )

    track: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$"
    )
    job_id: uuid.UUID | None = None
    artifact: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$"
    )
    start_s: float | None = Field(default=None, ge=0, le=86_400)
    end_s: float | None = Field(default=None, ge=0, le=86_400)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.artifact is not None and self.job_id is None:
            raise ValueError("an artifact is named with its job_id")
        if self.end_s is not None and (self.start_s is None or self.end_s < self.start_s):
            raise ValueError("end_s comes with a start_s no later than it")
        return self


class CommentAdded(ProjectEvent):
    """A comment, or a reply to one (`parent_id`: threads are one level deep)."""

    subject: ClassVar[str] = "project.comment.added"
    comment_id: uuid.UUID
    body: str = Field(min_length=1, max_length=COMMENT_MAX)
    anchor: CommentAnchor | None = None
    parent_id: uuid.UUID | None = None


class CommentResolved(ProjectEvent):
    subject: ClassVar[str] = "project.comment.resolved"
    comment_id: uuid.UUID


class CommentReopened(ProjectEvent):
    subject: ClassVar[str] = "project.comment.reopened"
    comment_id: uuid.UUID


Decision = Literal["approved", "changes_requested"]


class ApprovalRecorded(ProjectEvent):
    """A reviewer's decision on one version of a job's artifact (its sha256)."""

    subject: ClassVar[str] = "project.approval.recorded"
    approval_id: uuid.UUID
    job_id: uuid.UUID
    artifact: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    decision: Decision
    note: str = Field(default="", max_length=NOTE_MAX)


PROJECT_EVENT_TYPES: tuple[type[ProjectEvent], ...] = (
    ProjectCreated,
    ProjectUpdated,
    ProjectArchived,
    ProjectRestored,
    MemberInvited,
    InvitationAccepted,
    InvitationDeclined,
    InvitationRevoked,
    MemberRoleChanged,
    MemberRemoved,
    OwnershipTransferred,
    CommentAdded,
    CommentResolved,
    CommentReopened,
    ApprovalRecorded,
)

PROJECT_BY_SUBJECT: dict[str, type[ProjectEvent]] = {t.subject: t for t in PROJECT_EVENT_TYPES}


def decode_project_event(subject: str, payload: bytes | str) -> ProjectEvent:
    """A project's bus message as its typed event; KeyError for a subject we do not know."""
    return PROJECT_BY_SUBJECT[subject].model_validate_json(payload)
