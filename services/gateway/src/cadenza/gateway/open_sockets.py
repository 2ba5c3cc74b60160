"""The WebSockets open in this replica, by the credentials they were opened with, so that
credentials that end (sign-out, a revoked key, a disabled account, a changed role) end their
sockets within a second, with the reason.

A revocation is announced on core NATS (`cadenza.contracts.credentials`) by the replica that
made it and heard by every replica, itself included. As a backstop, every `recheck_s` each
open socket's credentials are checked against the database again (a session that expired, a
message that was missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Counter
from pydantic import ValidationError

from cadenza.contracts.credentials import REVOKED_SUBJECT, CredentialsRevoked
from cadenza.gateway.auth.principal import Principal

log = logging.getLogger(__name__)
T = TypeVar("T")

ENDED = Counter(
    "cadenza_ws_ended_by_credentials_total",
    "WebSockets closed because their credentials ended",
    ["how"],
)

# Whether a principal's credentials still count, and with which role (None: they ended).
StillValid = Callable[[Principal], Awaitable[str | None]]


class CredentialsEnded(Exception):  # noqa: N818 — an outcome, not a fault
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def covers(revoked: CredentialsRevoked, principal: Principal) -> bool:
    if principal.via == "dev" or principal.id != revoked.user_id:
        return False
    if revoked.session_id is not None:
        return principal.session_id == revoked.session_id
    if revoked.key_id is not None:
        return principal.key_id == revoked.key_id
    return True


class OpenSockets:
    def __init__(self, still_valid: StillValid, recheck_s: float) -> None:
        self.still_valid = still_valid
        self.recheck_s = recheck_s
        self._open: dict[int, tuple[Principal, asyncio.Future[str]]] = {}
        self._ids = itertools.count()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._nc: Client | None = None

    def __len__(self) -> int:
        return len(self._open)

    async def start(self, nc: Client) -> None:
        self._nc = nc
        self._subscription = await nc.subscribe(REVOKED_SUBJECT, cb=self._heard)
        self._task = asyncio.create_task(self._recheck_forever(), name="socket-credentials")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    @contextlib.asynccontextmanager
    async def hold(self, principal: Principal) -> AsyncIterator[asyncio.Future[str]]:
        """Register a socket for as long as the block runs; the future gets the reason if its
        credentials end (see `until_ended`)."""
        key = next(self._ids)
        ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._open[key] = (principal, ended)
        try:
            yield ended
        finally:
            del self._open[key]

    def end(self, revoked: CredentialsRevoked, how: str = "revoked") -> int:
        """End this replica's sockets the revocation covers; how many it ended."""
        count = 0
        for principal, ended in list(self._open.values()):
            if not ended.done() and covers(revoked, principal):
                ended.set_result(revoked.reason)
                ENDED.labels(how).inc()
                count += 1
        return count

    async def announce(self, revoked: CredentialsRevoked) -> None:
        """End the sockets here at once, and tell the other replicas."""
        self.end(revoked)
        if self._nc is not None:
            try:
                await self._nc.publish(REVOKED_SUBJECT, revoked.model_dump_json().encode())
            except Exception as e:  # the other replicas' recheck closes theirs
                log.warning("could not announce revoked credentials: %s", e)

    async def _heard(self, msg: Msg) -> None:
        try:
            revoked = CredentialsRevoked.model_validate_json(msg.data)
        except ValidationError:
            log.warning("ignored a malformed credentials revocation")
            return
        self.end(revoked)

    async def recheck(self) -> int:
        """Check every open socket's credentials again; end those that no longer count
        (or whose role changed). Returns how many it ended."""
        count = 0
        verdicts: dict[tuple[Any, ...], str | None] = {}
        for principal, ended in list(self._open.values()):
            if ended.done() or principal.via == "dev":
                continue
            key = (principal.id, principal.session_id, principal.key_id)
            if key not in verdicts:
                try:
                    verdicts[key] = await self.still_valid(principal)
                except Exception as e:  # the database is away: decide next time
                    log.warning("could not recheck socket credentials: %s", e)
                    return count
            role = verdicts[key]
            if role is None:
                reason = "your credentials ended (signed out, expired or revoked)"
            elif role != principal.role:
                reason = f"your role changed to {role}; reconnect"
            else:
                continue
            if not ended.done():
                ended.set_result(reason)
                ENDED.labels("recheck").inc()
                count += 1
        return count

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_s)
            try:
                await self.recheck()
            except Exception:
                log.warning("socket credentials recheck failed", exc_info=True)


async def until_ended(work: Coroutine[Any, Any, T], ended: asyncio.Future[str]) -> T:
    """Run `work`; if the socket's credentials end first, stop it and raise
    `CredentialsEnded` with the reason."""
    task = asyncio.ensure_future(work)
    waiting: set[asyncio.Future[Any]] = {task, ended}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise CredentialsEnded(ended.result())
