"""Facts every job shares, whatever service does the work: progress, completion, failure."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from pydantic import Field

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.envelope import Event

FailureCode = Literal[
    "invalid_input",  # the input cannot be used (undecodable audio, bad parameters)
    "gave_up",  # transient errors outlasted every redelivery
    "internal",  # a bug: the reason says what broke
    "over_budget",  # the job needed more than its limits allow (CPU time, bytes, memory)
    "dead_letter",  # every delivery crashed or timed out; the command is kept for inspection
]


class JobSubmitted(Event):
    """The gateway accepted a job: the request as the client made it, and its stages.

    With the commands and facts that follow, it is enough to rebuild the jobs projection.
    """

    subject: ClassVar[str] = "job.submitted"

    kind: str = Field(min_length=1, max_length=64)
    input: dict[str, Any]
    params: dict[str, Any]
    stages: list[str] = Field(min_length=1)
    # The client's Idempotency-Key, so a projection rebuilt from the streams keeps it.
    idempotency_key: str | None = Field(default=None, max_length=200)
    # sha256 of the request body as parsed: a key reused with another body is refused.
    request_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    # The project it was started in: its members see it (cadenza.contracts.projects).
    project_id: uuid.UUID | None = None


class JobProgress(Event):
    """A stage made progress. Published at most a few times a second per job."""

    subject: ClassVar[str] = "job.progress"

    stage: str = Field(min_length=1, max_length=64)
    progress: float = Field(ge=0.0, le=1.0)
    message: str | None = Field(default=None, max_length=500)


class JobCancelled(Event):
    """A client cancelled the job; workers stop and publish nothing more for it."""

    subject: ClassVar[str] = "job.cancelled"

    reason: str = Field(default="cancelled by the owner", max_length=500)


class StageCompleted(Event):
    """Fact: the stage finished and wrote its outputs to storage (the base of every
    `<domain>.completed`)."""

    stage: str = Field(min_length=1, max_length=64)
    outputs: dict[str, ArtifactRef]
    # False when a routing slip hands the job to a further stage.
    job_finished: bool = True
    # What a person may want to know about how the stage ran (model, device, cache hit…).
    details: dict[str, Any] = Field(default_factory=dict)


class StageFailed(Event):
    """Fact: the stage gave up, with a reason a person can read (the base of every
    `<domain>.failed`)."""

    stage: str = Field(min_length=1, max_length=64)
    code: FailureCode
    reason: str = Field(min_length=1, max_length=2000)
    attempts: int = Field(default=1, ge=1)


class StageDeadLettered(StageFailed):
    """A command reached its consumer's delivery limit without an outcome (each attempt
    crashed the worker or timed out). The command is copied to the dead-letter stream and
    its job fails with this reason."""

    subject: ClassVar[str] = "job.dead_lettered"

    original_subject: str = Field(max_length=200)
    dead_letter_seq: int = Field(ge=1, description="Its sequence in the DEADLETTERS stream")


class JobPinned(Event):
    """The owner pinned (or unpinned) a job: retention keeps a pinned job and its files."""

    subject: ClassVar[str] = "job.pinned"

    pinned: bool


class JobDeleted(Event):
    """The owner deleted a finished job: it and its files are gone (its id answers 404, its
    Idempotency-Key is not reused)."""

    subject: ClassVar[str] = "job.deleted"


class RetentionRemoved(Event):
    """Retention removed something past its age. `job_id` is the id of what was removed:
    a job (its artifacts, or the whole record) or an upload."""

    subject: ClassVar[str] = "job.retention_removed"

    what: Literal["artifacts", "job", "upload", "orphan"]
    names: list[str] = Field(default_factory=list, max_length=1000)
    bytes_freed: int = Field(default=0, ge=0)
    reason: str = Field(max_length=500)
