"""Errors as RFC 9457 problem details: every 4xx/5xx body is `application/problem+json`,
`{"type", "title", "status", "detail": "<what went wrong, as a sentence>", "instance"}`, plus
`errors` (`[{field, message}]`) on a 422. One place builds them all; `type` is a page this
gateway serves (`/problems/<kind>`), so a person who meets one can read what it means."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import asyncpg
import nats.errors
import nats.js.errors
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cadenza.contracts.effect_chain import EFFECT_TYPES
from cadenza.gateway.application.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    TooLargeError,
    UnavailableError,
    UnsupportedError,
)
from cadenza.gateway.application.errors import UnprocessableError as UnprocessableError
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


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"
# RFC 3986 path characters that stay as they are; everything else is percent-encoded.
URI_PATH_SAFE = "/!$&'()*+,;=:@-._~"


@dataclass(frozen=True)
class ProblemKind:
    slug: str
    title: str
    meaning: str  # the paragraph its page shows

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


# One kind per status the gateway sends; `type` stays the same whatever the sentence says.
PROBLEM_KINDS: dict[int, ProblemKind] = {
    kind_status: ProblemKind(slug, title, meaning)
    for kind_status, slug, title, meaning in (
        (
            400,
            "bad-request",
            "Bad request",
            "The request could not be read: a body that is not "
            "UTF-8 JSON, broken multipart framing, or a Content-Length that is not a number.",
        ),
        (
            401,
            "unauthenticated",
            "Sign in first",
            "The request carries no credentials, or "
            "credentials that do not count (expired, revoked, malformed). Send "
            "'Authorization: Bearer <access token or API key>' or 'X-API-Key: <key>'.",
        ),
        (
            403,
            "forbidden",
            "Not allowed",
            "The caller is known but its role may not do this, "
            "or a quota of its account is used up.",
        ),
        (
            404,
            "not-found",
            "Not found",
            "Nothing by that id belongs to the caller (another "
            "account's ids answer the same), or the endpoint does not exist.",
        ),
        (
            405,
            "method-not-allowed",
            "Method not allowed",
            "The endpoint exists but does not "
            "take this method; the Allow header lists those it takes.",
        ),
        (
            408,
            "request-timeout",
            "Request body too slow",
            "The request body did not arrive in time, or an upload stalled.",
        ),
        (
            409,
            "conflict",
            "Conflict",
            "The resource is not in a state that allows this (a job "
            "already finished, an account that already exists, files already gone).",
        ),
        (410, "gone", "Gone", "The resource existed but has been removed."),
        (
            413,
            "too-large",
            "Too large",
            "The body (or the upload) is larger than this endpoint "
            "takes, or it would take the account past its storage quota.",
        ),
        (
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "The body's media type is "
            "not one this endpoint takes (JSON endpoints take application/json, uploads "
            "multipart/form-data), or an uploaded file is not a format it reads.",
        ),
        (
            416,
            "range-not-satisfiable",
            "Range not satisfiable",
            "The Range asked for lies outside the file.",
        ),
        (
            422,
            "validation",
            "Invalid request",
            "The request parsed but breaks a rule; "
            "`errors` names each field and what is wrong with it.",
        ),
        (
            429,
            "rate-limited",
            "Too many requests",
            "The caller (or its address) is over a "
            "rate limit or a jobs-at-once limit; Retry-After says when to try again.",
        ),
        (
            500,
            "internal",
            "Internal error",
            "A fault in the gateway; `detail` holds a reference to quote when reporting it.",
        ),
        (
            503,
            "unavailable",
            "Unavailable",
            "Something the gateway needs (PostgreSQL, NATS, "
            "object storage, a worker) does not answer; try again after Retry-After.",
        ),
    )
}


def kind_of(status: int) -> ProblemKind:
    return PROBLEM_KINDS.get(
        status, ProblemKind(f"http-{status}", f"HTTP {status}", "See the detail.")
    )


def problem_body(
    status: int, detail: str, instance: str, extensions: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The RFC 9457 document; `extensions` add members (never replacing the standard ones).
    `instance` is the request's path, percent-encoded (a URI reference whatever it holds); a
    422 always has `errors`, naming the request as a whole when no one field is to blame."""
    kind = kind_of(status)
    body: dict[str, Any] = dict(extensions or {})
    if status == 422:
        body.setdefault("errors", [{"field": "request", "message": detail}])
    body.update(
        type=kind.type,
        title=kind.title,
        status=status,
        detail=detail,
        instance=quote(instance, safe=URI_PATH_SAFE),
    )
    return body


def problem(
    request: Request,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, detail, request.url.path, extensions),
        status_code=status,
        headers=dict(headers) if headers else None,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _unavailable(request: Request, what: str) -> JSONResponse:
    """503 for a dependency that did not answer (`what`: "the database", "the event bus")."""
    return problem(
        request,
        503,
        f"{what} is unavailable; try again in a few seconds (a submit retried with the "
        "same Idempotency-Key never makes a second job)",
        {"Retry-After": "5"},
    )


class ProblemError(Exception):
    """Raise from anywhere in a request to answer with a problem document; `extensions` are
    extra members (e.g. the failed `job`)."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


def unprocessable(request: Request, problems: list[dict[str, str]]) -> JSONResponse:
    sentence = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return problem(request, 422, sentence, errors=problems)


# Each domain refusal's HTTP status (the application layer knows nothing of HTTP).
DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    GoneError: 410,
    ForbiddenError: 403,
    UnavailableError: 503,
    InvalidError: 422,
    UnsupportedError: 415,
    TooLargeError: 413,
}


def domain_status(error: DomainError) -> int:
    return next((s for t, s in DOMAIN_STATUS.items() if isinstance(error, t)), 400)


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method the resource at this request's path takes (for a 405's Allow): each
    method is tried against the routes as the router itself would match it. A fixed path
    (/songs/match) is its own resource, as the OpenAPI says, even where a templated one
    (/songs/{song_id}) would also match its text."""
    found: dict[str, set[str]] = {}
    for route in routing.iter_route_contexts(request.app.routes):
        matches, path = getattr(route, "matches", None), route.path_format
        if matches is None or path is None:
            continue
        for method in HTTP_METHODS:
            if matches({**request.scope, "method": method})[0] == Match.FULL:
                found.setdefault(path, set()).add(method)
    fixed = [methods for path, methods in found.items() if "{" not in path]
    chosen = set().union(*(fixed or found.values()))
    return [method for method in HTTP_METHODS if method in chosen]


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
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; list them all.
            allowed = allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            if detail == "Method Not Allowed":
                detail = (
                    f"{request.method} is not allowed on {request.url.path}; it takes "
                    f"{', '.join(allowed)} (see /docs)"
                )
        return problem(request, exc.status_code, str(detail), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return unprocessable(request, validation_errors(exc.errors()))

    @app.exception_handler(UnprocessableError)
    async def _unprocessable(request: Request, exc: UnprocessableError) -> JSONResponse:
        return unprocessable(request, exc.problems)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(request, exc.status, exc.detail, exc.headers, **exc.extensions)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
        return problem(request, domain_status(exc), exc.detail, headers)

    @app.exception_handler(QuotaExceededError)
    async def _quota(request: Request, exc: QuotaExceededError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return problem(request, exc.status, exc.detail, headers)

    # The database went away before or during the request (restart, failover, network):
    # connection errors, a connection closed mid-transaction, an administrator shutdown.
    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.exceptions.OperatorInterventionError)
    @app.exception_handler(asyncpg.exceptions.InternalClientError)  # a pool reset mid-shutdown
    @app.exception_handler(DatabaseUnavailableError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _unavailable(request, "the database")

    # NATS did not answer a request (JetStream's API while a cluster elects a leader, or
    # no server reachable): the bus is unavailable, not the gateway broken.
    @app.exception_handler(nats.errors.TimeoutError)
    @app.exception_handler(nats.errors.NoRespondersError)
    @app.exception_handler(nats.js.errors.ServiceUnavailableError)
    async def _bus_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("NATS unavailable on %s %s: %r", request.method, request.url.path, exc)
        return _unavailable(request, "the event bus")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.exception(
            "unhandled error on %s %s (ref %s)", request.method, request.url.path, reference
        )
        return problem(
            request, 500, f"internal error; quote reference {reference} when reporting it"
        )

    @app.get(PROBLEM_BASE + "{slug}", include_in_schema=False, response_class=HTMLResponse)
    async def problem_page(request: Request, slug: str) -> HTMLResponse:
        """What a problem `type` means, for the person who follows the URI."""
        for status, kind in PROBLEM_KINDS.items():
            if kind.slug == slug:
                return HTMLResponse(
                    f"<!doctype html><title>{kind.title}</title><h1>{kind.title} "
                    f"(HTTP {status})</h1><p>{kind.meaning}</p>"
                    '<p>The body is RFC 9457 problem details; see <a href="/docs">/docs</a>.</p>'
                )
        raise StarletteHTTPException(404, f"no such problem type: {slug}")
