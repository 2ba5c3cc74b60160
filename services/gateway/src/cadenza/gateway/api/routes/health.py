"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cadenza.gateway.deps import ServicesDep
from cadenza.gateway.errors import ProblemError
from cadenza.runtime.bus import nats_answers

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="Readiness: NATS, PostgreSQL and object storage all answer",
    responses={503: {"description": "Something the gateway needs is down; `problems` names it"}},
)
async def ready(services: ServicesDep) -> JSONResponse:
    problems: dict[str, str] = {}
    if not await nats_answers(services.broker):
        problems["nats"] = f"NATS at {services.settings.nats_where} does not answer"
    try:
        await asyncio.wait_for(services.pool.fetchval("SELECT 1"), timeout=3.0)
    except Exception as e:
        problems["postgres"] = f"PostgreSQL does not answer: {type(e).__name__}: {e}"
    try:
        await asyncio.wait_for(services.store.ping(), timeout=5.0)
    except Exception as e:
        problems["storage"] = f"object storage does not answer: {type(e).__name__}: {e}"
    if problems:
        detail = "not ready: " + "; ".join(problems.values())
        raise ProblemError(503, detail, {"Retry-After": "5"}, problems=problems)
    return JSONResponse(
        {"status": "ready", "checks": {"nats": "ok", "postgres": "ok", "storage": "ok"}}
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
