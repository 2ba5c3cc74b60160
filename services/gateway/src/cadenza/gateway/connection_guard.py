"""Bounds on connections, before any request reaches the app: how many one address may hold
open, how long a request's headers may take to arrive, and how large they may be.

uvicorn's httptools protocol has neither a header timeout nor a header size limit (a client
can send one byte every few seconds, or headers without end, and hold a connection and its
buffer forever). `guarded_protocol` returns a subclass that adds them:

- an address (the TCP peer; trusted proxies are exempt, their clients are counted by the
  proxy) may hold at most `max_per_address` connections, HTTP and WebSocket together; one
  more is answered 503 and closed before it is read;
- a request's line and headers must arrive within `header_timeout_s` of its first byte (or
  of the connection, for the first request), else 408 and the connection closes;
- they may take at most `max_header_bytes`, else 431 and the connection closes.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter as MetricCounter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REFUSED = MetricCounter(
    "cadenza_http_connections_refused_total",
    "Connections closed by the connection guard, by reason",
    ["reason"],
)


@dataclass
class ConnectionLimits:
    max_per_address: int
    header_timeout_s: float
    max_header_bytes: int
    trusted_proxies: tuple[str, ...] = ()
    open: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._networks = [ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies]

    def exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def admit(self, address: str) -> bool:
        if self.exempt(address):
            return True
        if self.open[address] >= self.max_per_address:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        if self.exempt(address) or address not in self.open:
            return
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


def _response(status: bytes, text: str) -> bytes:
    body = text.encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the bounds above (pass it as `http=`)."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._address: str | None = None
            self._header_bytes = 0
            self._header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else "unknown"
            if not limits.admit(address):
                REFUSED.labels("per_address").inc()
                transport.write(
                    _response(
                        b"503 Service Unavailable",
                        f"too many open connections from {address} "
                        f"(at most {limits.max_per_address}); close some and try again",
                    )
                )
                transport.close()
                return
            self._address = address
            self._start_header_timer()

        def _release(self) -> None:
            if self._address is not None:
                limits.release(self._address)
                self._address = None

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_timer()
            self._release()
            super().connection_lost(exc)

        def _start_header_timer(self) -> None:
            self._stop_header_timer()
            self._header_bytes = 0
            self._header_timer = self.loop.call_later(
                limits.header_timeout_s, self._headers_too_slow
            )

        def _stop_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            REFUSED.labels("header_timeout").inc()
            self._refuse(
                b"408 Request Timeout",
                f"the request's headers did not arrive within {limits.header_timeout_s:g} s",
            )

        def _refuse(self, status: bytes, text: str) -> None:
            if not self.transport.is_closing():
                self.transport.write(_response(status, text))
                self.transport.close()

        def _count(self, size: int) -> None:
            self._header_bytes += size
            if self._header_bytes > limits.max_header_bytes:
                REFUSED.labels("header_size").inc()
                self._refuse(
                    b"431 Request Header Fields Too Large",
                    f"the request line and headers exceed {limits.max_header_bytes} bytes",
                )

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:  # a later request on a kept-alive connection
                self._start_header_timer()
            self._header_bytes = 0

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._stop_header_timer()
            super().on_headers_complete()

        def handle_websocket_upgrade(self) -> None:
            self._stop_header_timer()
            super().handle_websocket_upgrade()
            # The WebSocket protocol owns the connection from here: release the address's
            # count when it closes, not when this object would have.
            websocket = self.transport.get_protocol()
            address, self._address = self._address, None
            lost = websocket.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                try:
                    lost(exc)
                finally:
                    if address is not None:
                        limits.release(address)

            websocket.connection_lost = connection_lost  # type: ignore[method-assign]

    return GuardedHttpToolsProtocol
