"""WS /api/v1/live: stream audio in, hear it back through an effect chain in real time."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from cadenza.gateway.deps import ServicesDep
from cadenza.gateway.live_audio import (
    LiveLimits,
    PrincipalSessions,
    close_live_socket,
    run_session,
)
from cadenza.gateway.socket_auth import authenticate_socket

router = APIRouter(tags=["live"])


@router.websocket("/api/v1/live")
async def live_effects(websocket: WebSocket, services: ServicesDep) -> None:
    """Send `{"type": "open", "chain": [effects…], "format": {"sample_rate": 48000,
    "channels": 2, "block_frames": 480, "sample_format": "float32"}}` as text; after
    `{"type": "ready", …}` (with `block_bytes`, and `max_in_flight`: how many blocks may be
    unanswered before the next one waits) send binary blocks of exactly `block_bytes` (interleaved,
    little-endian) and receive each one processed, in order. `{"type": "set", "index": 0,
    "params": {…}}` or `{"type": "chain", "chain": […]}` change the chain between blocks
    (ramped, state kept); `{"type": "close"}` ends it. Every close comes with a reason:
    4400 bad input, 4401 credentials (missing, wrong, or ended while open), 4408 idle,
    4409 not reading, 4429 too many sessions (or wrong credentials from this address),
    4503 no worker or the worker went away (reconnect), 1012 the worker is restarting."""
    await websocket.accept()
    principal = await authenticate_socket(websocket, services, close_live_socket)
    if principal is None:
        return
    settings = services.settings
    sessions: PrincipalSessions = websocket.app.state.live_sessions
    limits = LiveLimits(
        idle_timeout_s=settings.live_idle_timeout_s,
        max_in_flight=settings.live_max_in_flight,
        stall_timeout_s=settings.live_stall_timeout_s,
    )
    async with services.sockets.hold(principal) as ended:
        await run_session(
            websocket, services.broker.connection, principal.id, sessions, limits, ended
        )
