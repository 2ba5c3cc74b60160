"""Object keys: `{owner}/{job_id}/{name}`, built by us, never taken from a user."""

from __future__ import annotations

import re

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
MAX_KEY_LENGTH = 1024


class InvalidKeyError(ValueError):
    pass


def validate_key(key: str) -> str:
    """Return `key` if every segment is a plain name; refuse anything path-like."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(f"object key must be 1..{MAX_KEY_LENGTH} characters")
    for segment in key.split("/"):
        if not _SEGMENT.match(segment) or ".." in segment:
            raise InvalidKeyError(f"object key {key!r} has an unsafe segment {segment!r}")
    return key


def object_key(*segments: str) -> str:
    return validate_key("/".join(str(s) for s in segments))
