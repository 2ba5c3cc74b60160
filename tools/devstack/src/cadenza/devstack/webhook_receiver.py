"""A webhook receiver on loopback, for tests: records each request as it came and answers as
told (failures, a receiver that is down, slowness, a large answer, a redirect). Threads of
`http.server`, so it answers whether the test's own event loop is busy or not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

PATH = "/hook"
ELSEWHERE = "/elsewhere"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    def verified_with(self, secret: str) -> dict[str, Any]:
        """The payload, if the Standard Webhooks reference library (the dev dependency
        `standardwebhooks`) accepts its signature; raises otherwise."""
        from standardwebhooks import Webhook

        verified: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return verified


@dataclass
class WebhookReceiver:
    """`with WebhookReceiver() as hook:`; `hook.url` takes POSTs; `hook.received` lists them."""

    received: list[Received] = field(default_factory=list)
    # The next `failures` requests get `failure_status`; while `down`, every one gets 503.
    failures: int = 0
    failure_status: int = 500
    down: bool = False
    # Seconds before answering; a 500 with this many bytes; a 302 to the other path.
    delay_s: float = 0.0
    answer_bytes: int = 0
    redirect: bool = False
    in_flight: int = 0
    most_in_flight: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the receiver first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.base_url + PATH

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == PATH and r.type == event_type]

    def wait(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        """At least `count` requests (blocking), or AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} requests arrived")
            time.sleep(0.02)
        return list(self.received)

    async def arrived(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        """`wait` for a test whose event loop must keep running (an in-process gateway)."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} requests arrived")
            await asyncio.sleep(0.02)
        return list(self.received)

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.received.append(Received(request.path, headers, body))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            status, extra, answer = 200, {}, b"ok"
            if self.down:
                status, answer = 503, b"down for maintenance"
            elif self.redirect and request.path == PATH:
                status, extra, answer = 302, {"Location": self.base_url + ELSEWHERE}, b""
            elif self.failures:
                with self._lock:
                    self.failures -= 1
                status, answer = self.failure_status, b"receiver broke"
            elif self.answer_bytes:
                status, answer = 500, b"x" * self.answer_bytes
            request.send_response(status)
            for name, value in extra.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(answer)))
            request.end_headers()
            # The caller may read what it wants and hang up (a bounded read).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                request.wfile.write(answer)
        finally:
            with self._lock:
                self.in_flight -= 1

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # `async with` too, beside an in-process gateway's `async with`.
    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.__exit__, exc_type, exc, tb)
