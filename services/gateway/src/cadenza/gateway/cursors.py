"""Opaque page cursors, the one kind every list hands out: a keyset position
(`created_at|id`, for tables paged in that order) or an offset (for lists a service pages
by position). Both are URL-safe base64 without padding; anything else is refused."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from cadenza.gateway.application.errors import UnprocessableError


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


def keyset_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    return _encode(f"{created_at.isoformat()}|{row_id}")


def keyset_position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Raises ValueError for anything that is not a cursor we issued."""
    created, row_id = _decode(cursor).split("|", 1)
    return datetime.fromisoformat(created), uuid.UUID(row_id)


def offset_cursor(offset: int) -> str:
    return _encode(f"o:{offset}")


def offset_position(cursor: str | None, *, limit: int = 100_000) -> int:
    """The position an `offset_cursor` names (0 without one); a 422 naming `cursor` for
    anything else."""
    if not cursor:
        return 0
    try:
        kind, _, number = _decode(cursor).partition(":")
    except ValueError:
        kind = number = ""
    if kind != "o" or not number.isdigit() or int(number) > limit:
        raise UnprocessableError.one("cursor", "not a cursor this API issued")
    return int(number)
