"""The envelope every event carries, and how one event derives the ids of the next."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

# A principal is a short, path-safe name: it becomes the first segment of object keys.
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"


def utc_now() -> datetime:
    return datetime.now(UTC)


def derive_id(cause: uuid.UUID, step: str) -> uuid.UUID:
    """A deterministic id for the event that `cause` leads to at `step`.

    A redelivered command re-derives the same ids, so JetStream's duplicate window
    (keyed by `Nats-Msg-Id` = event id) drops the repeated facts.
    """
    return uuid.uuid5(cause, step)


class Envelope(BaseModel):
    """What every message on the bus carries, whatever it is about: its id (the publish's
    `Nats-Msg-Id`), the request it belongs to, what caused it, when, and the schema version.

    Unknown fields are ignored so that a producer may add optional fields without
    breaking older consumers; `schema_version` changes only for breaking changes.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    subject: ClassVar[str]

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    schema_version: int = SCHEMA_VERSION


class Event(Envelope):
    """Base of every job's event: the envelope from docs/architecture.md, with the job it
    belongs to and the principal that asked for it. (A project's events are
    `cadenza.contracts.projects.ProjectEvent`.)"""

    job_id: uuid.UUID
    owner: str = Field(pattern=OWNER_PATTERN)

    @classmethod
    def caused_by(cls, cause: Event, *, step: str = "", **fields: Any) -> Self:
        """The event that `cause` leads to, with a deterministic id (see `derive_id`)."""
        return cls(
            event_id=derive_id(cause.event_id, f"{cls.subject}/{step}"),
            job_id=cause.job_id,
            owner=cause.owner,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
            **fields,
        )
