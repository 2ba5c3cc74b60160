"""Which URLs a webhook may call.

Refused unless the operator allows them (WEBHOOK_ALLOW_PRIVATE_TARGETS): any host that
resolves to an address that is not globally routable (private, loopback, link-local,
shared, reserved, unspecified) or is multicast. Every address the name resolves to is
checked, when the subscription is made and again on every call (`GuardedResolver`: the
connection goes only to addresses that passed), so a name that later resolves somewhere
private (DNS rebinding) is not called.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefusedError(OSError):
    """The URL may not be called; the message says why, as a sentence."""


def address_allowed(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def split_target(url: str) -> tuple[str, int]:
    """(host, port) of a URL a webhook may name; TargetRefusedError if its shape is wrong."""
    if any(c <= " " or c == "\x7f" for c in url):
        raise TargetRefusedError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise TargetRefusedError(f"is not a URL: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefusedError("must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise TargetRefusedError("must not carry a user name or password")
    if not parts.hostname:
        raise TargetRefusedError("has no host")
    if literal_address(parts.hostname) is None:
        try:
            parts.hostname.encode("idna")
        except UnicodeError:
            raise TargetRefusedError(
                "has a host name that is not a valid DNS name (each part between dots is 1 to "
                "63 characters)"
            ) from None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _refuse_any_private(host: str, addresses: list[IPAddress]) -> None:
    refused = sorted({str(a) for a in addresses if not address_allowed(a)})
    if refused:
        raise TargetRefusedError(
            f"names host {host}, which resolves to {', '.join(refused)}: private, loopback, "
            "link-local and multicast addresses are not called (the operator may allow them "
            "with WEBHOOK_ALLOW_PRIVATE_TARGETS)"
        )


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def check_target(url: str, *, allow_private: bool, resolve_timeout_s: float) -> None:
    """TargetRefusedError unless `url` may be called now (its host resolved and checked)."""
    host, port = split_target(url)
    literal = literal_address(host)
    if literal is not None:
        if not allow_private:
            _refuse_any_private(host, [literal])
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), resolve_timeout_s
        )
    except (OSError, TimeoutError, ValueError) as e:  # ValueError: UnicodeError (IDNA)
        raise TargetRefusedError(f"names host {host}, which could not be resolved ({e})") from None
    if not allow_private:
        _refuse_any_private(host, [ipaddress.ip_address(info[4][0]) for info in infos])


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name if any address it resolves to is not allowed.
    (aiohttp does not ask the resolver about literal addresses: `check_target` does.)"""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            _refuse_any_private(host, [ipaddress.ip_address(r["host"]) for r in found])
        return found

    async def close(self) -> None:
        await self._inner.close()
