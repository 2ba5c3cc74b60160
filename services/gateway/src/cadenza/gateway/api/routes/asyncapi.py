"""The AsyncAPI document of every event on the bus: public documentation, like /openapi.json."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Response

from cadenza.runtime.asyncapi import asyncapi_document

router = APIRouter()


@cache
def _document() -> bytes:
    return asyncapi_document().encode()


# Not an operation of the API, so not in its OpenAPI document (as /openapi.json is not). A
# plain `def`: the first call builds the document, in the thread pool rather than the loop.
@router.get("/api/v1/asyncapi", include_in_schema=False)
def asyncapi() -> Response:
    return Response(_document(), media_type="application/json")
