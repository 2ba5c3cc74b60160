"""Pure ASGI guards on every HTTP request: body size limits and security headers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadenza.gateway.errors import PROBLEM_MEDIA_TYPE, problem_body

# Swagger UI and ReDoc (docs_pages.py) are files this gateway serves, scripts from 'self'
# only; they style themselves with injected <style> elements and data: images, ReDoc
# searches in a blob: worker, so their pages get a policy of their own.
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def content_security_policy(download_sources: tuple[str, ...] = ()) -> str:
    """The web studio is files from /static only: no inline script or style. blob: is for
    its audio and downloads fetched with the Authorization header (media and links cannot
    send it); 'self' in connect-src covers the same-origin WebSocket (CSP Level 3).
    `download_sources` are where a download's redirect leads (the S3 endpoint clients reach,
    downloads.download_sources): fetch() follows it there, so connect-src names them."""
    connect = " ".join(("'self'", *download_sources))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self'; media-src 'self' blob:; connect-src {connect}; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class BodyTooLargeError(Exception):
    pass


class BodyTimeoutError(Exception):
    pass


async def _refuse(send: Send, status: int, detail: str, path: str) -> None:
    body = json.dumps(problem_body(status, detail, path)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class BodyRules:
    """What a request body may be, by route. Upload routes (those whose OpenAPI body is
    multipart/form-data) take multipart up to the upload limit; every other route takes a
    small JSON body whatever its content type says, sign-in routes a smaller one still."""

    upload_routes: frozenset[tuple[str, str]]
    max_json_bytes: int
    max_upload_bytes: int
    max_sign_in_bytes: int = 16 * 1024
    # Seconds a JSON body may take to arrive in all; seconds an upload may go without a byte.
    json_timeout_s: float = 15.0
    upload_idle_timeout_s: float = 30.0

    def for_request(self, method: str, path: str) -> tuple[bool, int]:
        """(is an upload route, its byte limit)."""
        if (method, path.rstrip("/") or "/") in self.upload_routes:
            # Multipart framing and the text fields on top of the file itself.
            return True, self.max_upload_bytes + 128 * 1024
        if path.startswith(SIGN_IN_PREFIX):
            return False, self.max_sign_in_bytes
        return False, self.max_json_bytes

    def is_upload_path(self, path: str) -> bool:
        """An upload route's path, whatever the method (another method there is a 405)."""
        path = path.rstrip("/") or "/"
        return any(path == upload_path for _, upload_path in self.upload_routes)


SIGN_IN_PREFIX = "/api/v1/auth/"


def upload_routes(app: FastAPI) -> frozenset[tuple[str, str]]:
    """(method, path) of every operation whose request body is multipart/form-data, read
    from the app's own OpenAPI document (what clients are told is what is enforced)."""
    found: set[tuple[str, str]] = set()
    for path, operations in app.openapi().get("paths", {}).items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content:
                found.add((method.upper(), path.rstrip("/") or "/"))
    return frozenset(found)


class BodyLimit:
    """Bounds every request body before and while it is read: by route (see BodyRules), from
    Content-Length before anything is read, then as the bytes arrive (chunked); multipart
    sent to a route that does not take it is refused unread (415); a JSON body that takes
    longer than its time to arrive, or an upload that stalls, is cut off (408). Memory per
    request is what the route keeps: a JSON body at most `max_json_bytes` (parsing it takes
    about 28 times that at worst), an upload a chunk at a time on its way to disk."""

    def __init__(self, app: ASGIApp, rules: BodyRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload, limit = self.rules.for_request(scope["method"], scope["path"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        if multipart and not upload and not self.rules.is_upload_path(scope["path"]):
            await _refuse(
                send,
                415,
                f"{scope['method']} {scope['path']} takes JSON (application/json); only the "
                "upload endpoints take multipart/form-data",
                scope["path"],
            )
            return
        what = "upload" if upload else "request body"
        detail = f"the {what} is larger than the limit of {limit} bytes for this endpoint"
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await _refuse(send, 400, "Content-Length is not a number", scope["path"])
                return
            if too_large:
                await _refuse(send, 413, detail, scope["path"])
                return
        received = 0
        refusal: tuple[int, str] | None = None
        answered = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.rules.json_timeout_s
        idle = self.rules.upload_idle_timeout_s

        async def counted_receive() -> Message:
            nonlocal received, refusal
            wait = idle if upload else max(0.0, deadline - loop.time())
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                refusal = (408, _slow(what, upload, idle, self.rules.json_timeout_s))
                raise BodyTimeoutError from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Whatever the app makes of the cut-off body, the caller gets a 413.
                    refusal = (413, detail)
                    raise BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if refusal is None:
                await send(message)
            elif not answered and message["type"] == "http.response.start":
                answered = True
                await _refuse(send, *refusal, scope["path"])

        with contextlib.suppress(BodyTooLargeError, BodyTimeoutError):
            await self.app(scope, counted_receive, guarded_send)
        if refusal is not None and not answered:
            answered = True
            await _refuse(send, *refusal, scope["path"])


def _slow(what: str, upload: bool, idle_s: float, total_s: float) -> str:
    if upload:
        return f"the {what} stalled: no data for {idle_s:g} s"
    return f"the {what} did not arrive within {total_s:g} s"


class SecurityHeaders:
    """nosniff, no framing, no referrer, a strict CSP on our pages, HSTS when configured."""

    def __init__(
        self, app: ASGIApp, hsts_seconds: int = 0, download_sources: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.policy = content_security_policy(download_sources).encode()
        self.common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), geolocation=(), microphone=(self)"),
        ]
        if hsts_seconds:
            self.common.append((b"strict-transport-security", f"max-age={hsts_seconds}".encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(self.common)
        policy = (
            DOCS_CONTENT_SECURITY_POLICY.encode()
            if scope["path"].startswith(DOCS_PATHS)
            else self.policy
        )
        extra.append((b"content-security-policy", policy))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in extra if name not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
