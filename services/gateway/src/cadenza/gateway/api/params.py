"""Request parameters and response headers several routers share."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

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


def binary(description: str) -> dict[str, Any]:
    """A file part of a multipart form, in the OpenAPI."""
    return {"type": "string", "format": "binary", "description": description}


def multipart_form(properties: dict[str, Any], **schema: Any) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its multipart form itself (streamed to disk,
    so FastAPI declares no body for it): the form's fields, and any further schema keywords
    (`required`, `anyOf`…)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, **schema}
                }
            },
        }
    }
