"""A webhook receiver on loopback for tests: collects each request as it came, answers as told."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
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
        """The payload, if the Standard Webhooks reference library accepts the signature."""
        verified: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return verified


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    # Answer this status to the next `failures` requests (then 200); `down` answers 503.
    failures: int = 0
    failure_status: int = 500
    down: bool = False
    # Seconds to wait before answering; a body to answer with; a redirect to answer with.
    delay_s: float = 0.0
    answer_bytes: int = 0
    redirect_to: str | None = None
    in_flight: int = 0
    most_in_flight: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            body = await request.read()
            self.received.append(Received({k.lower(): v for k, v in request.headers.items()}, body))
            self.arrived.set()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.down:
                return web.Response(status=503, text="down for maintenance")
            if self.redirect_to:
                raise web.HTTPFound(self.redirect_to)
            if self.failures:
                self.failures -= 1
                return web.Response(status=self.failure_status, text="receiver broke")
            if self.answer_bytes:
                return web.Response(status=500, body=b"x" * self.answer_bytes)
            return web.Response(status=200, text="ok")
        finally:
            self.in_flight -= 1

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.type == event_type]

    async def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        """At least `count` requests, or AssertionError after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.received)} of {count} requests arrived")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                continue
        return self.received


@asynccontextmanager
async def receiver(path: str = "/hook") -> AsyncIterator[Receiver]:
    """A receiver listening on 127.0.0.1 (a free port) at `path`."""
    state = Receiver()
    app = web.Application()
    app.router.add_post(path, state.handle)
    app.router.add_post("/elsewhere", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield state
    finally:
        await runner.cleanup()
