"""Prometheus metrics shared by every worker, and a tiny ASGI app for /metrics and health."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

JOBS = Counter(
    "cadenza_jobs_total",
    "Commands handled by a worker, by stage and outcome",
    ["stage", "outcome"],
)
JOB_SECONDS = Histogram(
    "cadenza_job_duration_seconds",
    "Wall time of one attempt at a command, by stage",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
AUDIO_SECONDS = Counter(
    "cadenza_audio_seconds_processed_total",
    "Seconds of audio a stage has processed",
    ["stage"],
)
WAITED = Histogram(
    "cadenza_job_turn_wait_seconds",
    "How long a command a worker holds waited for its turn (fair sharing between accounts)",
    ["stage"],
    buckets=(0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
FAILURES = Counter(
    "cadenza_job_failures_total",
    "Failed commands by stage and failure code",
    ["stage", "code"],
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ReadyCheck = Callable[[], Awaitable[dict[str, str]]]


def ops_app(ready: ReadyCheck) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """`/health` (alive), `/health/ready` (200 or 503 naming what is down), `/metrics`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope.get("path", "")
        status, body, ctype = 404, b'{"detail": "not found"}', "application/json"
        if path == "/health":
            status, body = 200, b'{"status": "ok"}'
        elif path == "/health/ready":
            problems = await ready()
            status = 503 if problems else 200
            body = json.dumps(
                {"status": "unavailable" if problems else "ready", "problems": problems}
            ).encode()
        elif path == "/metrics":
            status, body, ctype = 200, generate_latest(), CONTENT_TYPE_LATEST
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
