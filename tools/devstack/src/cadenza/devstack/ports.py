"""Free TCP ports, whether a server could listen on one, and waiting for one to answer."""

from __future__ import annotations

import errno
import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not open port {port} within {timeout_s:.0f}s")


def cannot_listen(port: int, host: str = "127.0.0.1") -> str | None:
    """Why a server could not listen on `port` now (None: it could). Binds as servers do
    (SO_REUSEADDR), so a port a stopped server left in TIME_WAIT counts as free."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return "in use"
            return e.strerror or str(e)
    return None


def free_port_near(port: int, host: str = "127.0.0.1", tries: int = 100) -> int:
    """A port to suggest instead of a busy one: the first free one above it, for instance."""
    candidates: list[int] = [port + 1000, *range(port + 1, port + tries)]
    for candidate in candidates:
        if 1024 <= candidate <= 65535 and cannot_listen(candidate, host) is None:
            return candidate
    return free_port()
