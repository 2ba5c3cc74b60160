"""WS /api/v1/ws: subscribe to jobs and receive their events as they happen."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, WebSocket

from cadenza.gateway.deps import ServicesDep
from cadenza.gateway.job_feed import Message
from cadenza.gateway.job_socket import Subscriptions, error, serve_socket

router = APIRouter(tags=["live"])

EXAMPLE = '{"action": "subscribe", "job_id": "..."}'


@router.websocket("/api/v1/ws")
async def live_updates(websocket: WebSocket, services: ServicesDep) -> None:
    """Send `{"action": "subscribe", "job_id": "..."}`; receive a `job.snapshot`, then
    `job.progress`, `job.completed`, `job.failed` or `job.cancelled` events for that job.
    `{"action": "unsubscribe", "job_id": "..."}` stops them. Credentials as for the REST
    API, or `?access_token=` (browsers cannot set headers on a WebSocket); without valid
    ones the socket closes with code 4401 and the reason, and so it does when they end
    while it is open (sign-out, a revoked key, a disabled account, a changed role)."""
    await serve_socket(websocket, services, _handle, example=EXAMPLE)


async def _handle(request: dict[str, Any], subscriptions: Subscriptions) -> Message | None:
    action = request.get("action")
    if action not in ("subscribe", "unsubscribe"):
        return error(f"unknown action {action!r}; use 'subscribe' or 'unsubscribe'")
    try:
        job_id = uuid.UUID(str(request.get("job_id")))
    except ValueError:
        return error(f"job_id {request.get('job_id')!r} is not a job id")
    if action == "unsubscribe":
        subscriptions.unsubscribe(job_id)
        return {"type": "unsubscribed", "job_id": str(job_id)}
    return await subscriptions.subscribe(job_id)
