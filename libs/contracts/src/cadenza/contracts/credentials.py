"""Credentials that ended: every gateway replica closes the sockets opened with them.

Not JetStream: a revocation matters to the sockets open at that moment, and each replica
also re-checks its sockets' credentials on a timer, so one that missed the message still
closes them shortly after. The message travels on core NATS, to every replica.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

REVOKED_SUBJECT = "auth.credentials_revoked"


class CredentialsRevoked(BaseModel):
    """The account's credentials that no longer count: one sign-in session (`session_id`),
    one API key (`key_id`), or, with neither, all of them (disabled, or its role changed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str = Field(min_length=1, max_length=200)
    session_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    reason: str = Field(min_length=1, max_length=200)
