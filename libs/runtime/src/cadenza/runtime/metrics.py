"""Prometheus metrics: the families every worker exports, the one exposition every service
serves at /metrics, and a tiny ASGI app for a worker's /metrics and health."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# A counter's or histogram's `<name>_created` series (its creation time) is a gauge that
# dashboards mistake for a count; Prometheus itself does not need it.
disable_created_metrics()  # type: ignore[no-untyped-call]  # (untyped in prometheus_client)


@dataclass(frozen=True)
class WorkerMetrics:
    """The families every worker exports (and nothing else does)."""

    jobs: Counter
    retries: Counter
    job_seconds: Histogram
    audio_seconds: Counter
    waited: Histogram
    failures: Counter


@functools.cache
def worker_metrics(registry: CollectorRegistry = REGISTRY) -> WorkerMetrics:
    """Registered on first use (a worker's start), not on import: the gateway imports
    worker code (its song ingest describes files as a worker does) and must not export
    empty worker families."""
    return WorkerMetrics(
        jobs=Counter(
            "cadenza_jobs_total",
            "Commands a worker finished, by stage and outcome (completed, failed, cancelled):"
            " each command once, however many attempts or redeliveries it took",
            ["stage", "outcome"],
            registry=registry,
        ),
        retries=Counter(
            "cadenza_job_retries_total",
            "Attempts at a command that failed and will be retried, by stage",
            ["stage"],
            registry=registry,
        ),
        job_seconds=Histogram(
            "cadenza_job_duration_seconds",
            "Wall time of one attempt at a command, by stage",
            ["stage"],
            buckets=(
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
                30,
                60,
                120,
                300,
                900,
            ),
            registry=registry,
        ),
        audio_seconds=Counter(
            "cadenza_audio_processed_seconds_total",
            "Seconds of audio a stage has processed",
            ["stage"],
            registry=registry,
        ),
        waited=Histogram(
            "cadenza_job_turn_wait_seconds",
            "How long a command a worker holds waited for its turn (fair sharing between accounts)",
            ["stage"],
            buckets=(0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
            registry=registry,
        ),
        failures=Counter(
            "cadenza_job_failures_total",
            "Failed commands by stage and failure code",
            ["stage", "code"],
            registry=registry,
        ),
    )


def exposition() -> tuple[bytes, str]:
    """What /metrics answers in every service: the process's families, and its type."""
    return generate_latest(), CONTENT_TYPE_LATEST


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
            body, ctype = exposition()
            status = 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
