"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from cadenza.gateway.application import health as health_checks
from cadenza.gateway.deps import ServicesDep
from cadenza.gateway.errors import ProblemError
from cadenza.runtime.metrics import exposition

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
    problems = await health_checks.unavailable(services)
    if problems:
        detail = "not ready: " + "; ".join(problems.values())
        raise ProblemError(503, detail, {"Retry-After": "5"}, problems=problems)
    return JSONResponse(
        {"status": "ready", "checks": {"nats": "ok", "postgres": "ok", "storage": "ok"}}
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)
