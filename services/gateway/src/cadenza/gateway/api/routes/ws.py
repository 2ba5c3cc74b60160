"""WS /api/v1/ws: subscribe to jobs and receive their events as they happen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from prometheus_client import Gauge

from cadenza.gateway.deps import HubDep, ServicesDep
from cadenza.gateway.live import Message, Outbox
from cadenza.gateway.open_sockets import CredentialsEnded, until_ended
from cadenza.gateway.socket_auth import socket_principal

router = APIRouter(tags=["live"])

CONNECTIONS = Gauge("cadenza_ws_connections", "Open WebSocket connections")

OUTBOX_SIZE = 1000
MAX_SUBSCRIPTIONS = 1000
MAX_FRAME = 4096


def _error(message: str) -> Message:
    return {"type": "error", "message": message}


@router.websocket("/api/v1/ws")
async def live_updates(websocket: WebSocket, hub: HubDep, services: ServicesDep) -> None:
    """Send `{"action": "subscribe", "job_id": "..."}`; receive a `job.snapshot`, then
    `job.progress`, `job.completed`, `job.failed` or `job.cancelled` events for that job.
    `{"action": "unsubscribe", "job_id": "..."}` stops them. Credentials as for the REST
    API, or `?access_token=` (browsers cannot set headers on a WebSocket); without valid
    ones the socket closes with code 4401 and the reason, and so it does when they end
    while it is open (sign-out, a revoked key, a disabled account, a changed role)."""
    await websocket.accept()
    principal = await socket_principal(websocket, services)
    if principal is None:
        return
    owner = principal.id
    CONNECTIONS.inc()
    outbox: Outbox = asyncio.Queue(maxsize=OUTBOX_SIZE)
    subscribed: set[uuid.UUID] = set()
    sender = asyncio.create_task(_send_loop(websocket, outbox))

    async def serve() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text")
            if raw is None:
                reply: Message | None = _error("send JSON as text frames, not binary ones")
            else:
                reply = await _handle(raw, hub, owner, outbox, subscribed)
            if reply is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    outbox.put_nowait(reply)
            if sender.done():
                break

    try:
        async with services.sockets.hold(principal) as ended:
            await until_ended(serve(), ended)
    except WebSocketDisconnect:
        pass
    except CredentialsEnded as e:
        sender.cancel()
        with contextlib.suppress(Exception):
            await websocket.close(code=4401, reason=e.reason[:120])
    finally:
        for job_id in subscribed:
            hub.unsubscribe(job_id, outbox)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        CONNECTIONS.dec()


async def _handle(
    raw: str, hub: HubDep, owner: str, outbox: Outbox, subscribed: set[uuid.UUID]
) -> Message | None:
    if len(raw) > MAX_FRAME:
        return _error(f"message too long (at most {MAX_FRAME} characters)")
    try:
        request: Any = json.loads(raw)
    except json.JSONDecodeError:
        return _error('messages must be JSON, e.g. {"action": "subscribe", "job_id": "..."}')
    if not isinstance(request, dict):
        return _error("messages must be JSON objects")
    action = request.get("action")
    if action not in ("subscribe", "unsubscribe"):
        return _error(f"unknown action {action!r}; use 'subscribe' or 'unsubscribe'")
    try:
        job_id = uuid.UUID(str(request.get("job_id")))
    except ValueError:
        return _error(f"job_id {request.get('job_id')!r} is not a job id")
    if action == "unsubscribe":
        hub.unsubscribe(job_id, outbox)
        subscribed.discard(job_id)
        return {"type": "unsubscribed", "job_id": str(job_id)}
    if job_id in subscribed:
        return None
    if len(subscribed) >= MAX_SUBSCRIPTIONS:
        return _error(f"too many subscriptions on one connection (at most {MAX_SUBSCRIPTIONS})")
    if not await hub.subscribe(owner, job_id, outbox):
        return {"type": "error", "job_id": str(job_id), "message": f"job {job_id} not found"}
    subscribed.add(job_id)
    return None


async def _send_loop(websocket: WebSocket, outbox: Outbox) -> None:
    while True:
        message = await outbox.get()
        await websocket.send_text(json.dumps(message))
