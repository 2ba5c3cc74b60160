"""Who opened a WebSocket: the same credentials as the REST API (or `?access_token=`), and
the same limit on wrong ones per address. A refusal closes the socket with the reason."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from fastapi import WebSocket

from cadenza.gateway.auth.principal import AuthError, Principal, client_address
from cadenza.gateway.rate_limit import retry_after
from cadenza.gateway.services import Services


async def socket_principal(websocket: WebSocket, services: Services) -> Principal | None:
    """The caller, or None once the socket is closed: 4401 with the reason, or 4429 when
    this address sent too many wrong credentials. The socket must have been accepted (the
    close reason reaches browsers only after the handshake); live sessions pass their own
    `close` to say it their way."""
    return await authenticate_socket(websocket, services, _close)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason.encode()[:120].decode(errors="ignore"))


async def authenticate_socket(
    websocket: WebSocket,
    services: Services,
    close: Callable[[WebSocket, int, str], Awaitable[None]],
) -> Principal | None:
    try:
        return await services.auth.authenticate(websocket)
    except AuthError as e:
        if wait := services.auth.failure_limiter.take(client_address(websocket)):
            await close(
                websocket,
                4429,
                "too many requests with wrong credentials from this address; "
                f"try again in {retry_after(wait)} s",
            )
        else:
            await close(websocket, 4401, str(e))
        return None
