"""Request parameters and response headers several routers share."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Header

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Repeat a submit safely: the same key and body answer the same job; "
        "the same key with another body is a 422",
    ),
]


def job_location(job_id: uuid.UUID) -> str:
    """Where a job is read (the `Location` of a 202 that accepted it)."""
    return f"/api/v1/jobs/{job_id}"
