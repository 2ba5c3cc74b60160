"""Errors as sentences: every 4xx body is `{"detail": "<what went wrong>", ...}`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cadenza.contracts.effect_chain import EFFECT_TYPES
from cadenza.gateway.db import DatabaseUnavailableError
from cadenza.gateway.quotas import QuotaExceededError

log = logging.getLogger(__name__)


JOB_KINDS = ("effects", "separation", "blend", "render", "master", "pipeline")


def field_path(loc: Sequence[Any]) -> str:
    """`('body', 'effects', 'params', 'chain', 0, 'gain', 'gain_db')` →
    `params.chain.0.gain_db`: the tags of tagged unions are dropped, the index names it."""
    parts: list[str] = []
    previous: Any = None
    for position, item in enumerate(loc):
        if item == "body" and not parts:
            continue
        if position == 1 and loc[0] == "body" and item in JOB_KINDS:
            previous = item
            continue
        # Tagged unions put the tag in the location; the index already names the item.
        if isinstance(previous, int) and item in EFFECT_TYPES:
            previous = item
            continue
        parts.append(str(item))
        previous = item
    return ".".join(parts) or "body"


TAG_ERRORS = ("union_tag_invalid", "union_tag_not_found")


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    result = []
    for error in errors:
        message = str(error.get("msg", "invalid value"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        loc = tuple(error.get("loc", ()))
        if error.get("type") in TAG_ERRORS:
            # A wrong or missing tag is about the tag field itself ("kind", "type").
            loc += (str(error.get("ctx", {}).get("discriminator", "")).strip("'\""),)
        result.append({"field": field_path(loc), "message": message})
    return result


class UnprocessableError(Exception):
    """A request that parsed but cannot be done; each problem names its field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems

    @classmethod
    def one(cls, field: str, message: str) -> UnprocessableError:
        return cls([{"field": field, "message": message}])


def unprocessable(problems: list[dict[str, str]]) -> JSONResponse:
    sentence = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(status_code=422, content={"detail": sentence, "errors": problems})


# FastAPI's words for a body json.loads refused (bad UTF-8, nesting past Python's limit).
FASTAPI_BODY_ERROR = "There was an error parsing the body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and detail == FASTAPI_BODY_ERROR:
            detail = (
                "there was an error parsing the body: send UTF-8 JSON, nested at most a few "
                "hundred levels deep"
            )
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path} (see /docs)"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path} (see /docs)"
        return JSONResponse(
            status_code=exc.status_code, content={"detail": detail}, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return unprocessable(validation_errors(exc.errors()))

    @app.exception_handler(UnprocessableError)
    async def _unprocessable(_: Request, exc: UnprocessableError) -> JSONResponse:
        return unprocessable(exc.problems)

    @app.exception_handler(QuotaExceededError)
    async def _quota(_: Request, exc: QuotaExceededError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return JSONResponse(status_code=exc.status, content={"detail": exc.detail}, headers=headers)

    # The database went away before or during the request (restart, failover, network):
    # connection errors, a connection closed mid-transaction, an administrator shutdown.
    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.exceptions.OperatorInterventionError)
    @app.exception_handler(asyncpg.exceptions.InternalClientError)  # a pool reset mid-shutdown
    @app.exception_handler(DatabaseUnavailableError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            status_code=503,
            content={
                "detail": "the database is unavailable; try again in a few seconds (a submit "
                "retried with the same Idempotency-Key never makes a second job)"
            },
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.exception(
            "unhandled error on %s %s (ref %s)", request.method, request.url.path, reference
        )
        return JSONResponse(
            status_code=500,
            content={"detail": f"internal error; quote reference {reference} when reporting it"},
        )
