"""A WebSocket that follows jobs through the live job_feed: credentials, the receive loop, a
bounded send queue and the socket's subscriptions. WS /api/v1/ws and the seeds' WS /ws
differ only in the messages they take (`Handler`) and how they word what they send
(`Translate`).

Bounds per connection: a message at most MAX_FRAME characters (answered one at a time),
at most MAX_SUBSCRIPTIONS jobs, at most SEND_QUEUE_SIZE messages waiting to be sent (a client
that stops reading loses progress messages, not the server's memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from prometheus_client import Gauge

from cadenza.gateway.job_feed import Message, SendQueue
from cadenza.gateway.open_sockets import CredentialsEnded, until_ended
from cadenza.gateway.services import Services
from cadenza.gateway.socket_auth import socket_principal

CONNECTIONS = Gauge("cadenza_ws_connections", "Open WebSocket connections")

SEND_QUEUE_SIZE = 1000
MAX_SUBSCRIPTIONS = 1000
MAX_FRAME = 4096


def error(message: str) -> Message:
    return {"type": "error", "message": message}


@dataclass
class Subscriptions:
    """The jobs one socket follows."""

    services: Services
    owner: str
    queue: SendQueue
    jobs: set[uuid.UUID] = field(default_factory=set)

    async def subscribe(self, job_id: uuid.UUID) -> Message | None:
        """Queue the job's snapshot, then its events; an error message if it cannot."""
        if job_id in self.jobs:
            return None
        if len(self.jobs) >= MAX_SUBSCRIPTIONS:
            return error(f"too many subscriptions on one connection (at most {MAX_SUBSCRIPTIONS})")
        if not await self.services.job_feed.subscribe(self.owner, job_id, self.queue):
            return {"type": "error", "job_id": str(job_id), "message": f"job {job_id} not found"}
        self.jobs.add(job_id)
        return None

    def unsubscribe(self, job_id: uuid.UUID) -> None:
        self.services.job_feed.unsubscribe(job_id, self.queue)
        self.jobs.discard(job_id)

    def close(self) -> None:
        for job_id in self.jobs:
            self.services.job_feed.unsubscribe(job_id, self.queue)
        self.jobs.clear()


# A parsed JSON object from the client → the reply, if any.
Handler = Callable[[dict[str, Any], Subscriptions], Awaitable[Message | None]]
# A message on its way out → what this socket's clients expect, or None to leave it out.
Translate = Callable[[Message], Message | None]


def _as_is(message: Message) -> Message | None:
    return message


async def serve_socket(
    websocket: WebSocket,
    services: Services,
    handle: Handler,
    *,
    example: str,
    opening: Sequence[dict[str, Any]] = (),
    translate: Translate = _as_is,
) -> None:
    """Accept, authenticate (4401 without valid credentials, or when they end while open),
    answer `opening` requests then each text frame with `handle`, until the client goes."""
    await websocket.accept()
    principal = await socket_principal(websocket, services)
    if principal is None:
        return
    CONNECTIONS.inc()
    queue: SendQueue = asyncio.Queue(maxsize=SEND_QUEUE_SIZE)
    subscriptions = Subscriptions(services, principal.id, queue)
    sender = asyncio.create_task(_send_loop(websocket, queue, translate))

    def reply(message: Message | None) -> None:
        if message is not None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    async def serve() -> None:
        for first in opening:
            reply(await handle(first, subscriptions))
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            request, refused = _parse(message.get("text"), example)
            reply(refused if request is None else await handle(request, subscriptions))
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
        subscriptions.close()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        CONNECTIONS.dec()


def _parse(raw: str | None, example: str) -> tuple[dict[str, Any] | None, Message | None]:
    """The client's JSON object, or the error message to answer instead."""
    if raw is None:
        return None, error("send JSON as text frames, not binary ones")
    if len(raw) > MAX_FRAME:
        return None, error(f"message too long (at most {MAX_FRAME} characters)")
    try:
        request: Any = json.loads(raw)
    except json.JSONDecodeError:
        return None, error(f"messages must be JSON, e.g. {example}")
    if not isinstance(request, dict):
        return None, error("messages must be JSON objects")
    return request, None


async def _send_loop(websocket: WebSocket, queue: SendQueue, translate: Translate) -> None:
    while True:
        if (message := translate(await queue.get())) is not None:
            await websocket.send_text(json.dumps(message))
