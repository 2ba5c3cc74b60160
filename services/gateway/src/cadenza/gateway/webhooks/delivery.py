"""The delivery loop: sends each due delivery, records the outcome, retries with back-off.

Bounds: WEBHOOK_MAX_CONCURRENT deliveries at once (over all receivers), WEBHOOK_TIMEOUT_S
per attempt (connecting, sending, answering), at most WEBHOOK_RESPONSE_BYTES of an answer
read, no redirect followed, WEBHOOK_MAX_ATTEMPTS attempts per delivery, back-off doubling
from WEBHOOK_RETRY_BASE_S up to WEBHOOK_RETRY_MAX_S. Finished deliveries stay in the log for
WEBHOOK_LOG_RETENTION_S. Replicas share the queue (rows are claimed with SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import aiohttp
import asyncpg
from prometheus_client import Counter

from cadenza.gateway.settings import Settings
from cadenza.gateway.webhooks import repository
from cadenza.gateway.webhooks.repository import Due
from cadenza.gateway.webhooks.signing import headers
from cadenza.gateway.webhooks.targets import (
    GuardedResolver,
    TargetRefusedError,
    check_target,
    literal_address,
    split_target,
)

log = logging.getLogger(__name__)

ATTEMPTS = Counter(
    "cadenza_webhook_attempts_total", "Webhook delivery attempts, by outcome", ["outcome"]
)
# How long a claimed delivery stays hidden beyond its attempt's timeout; how often the
# queue is looked at when nothing wakes the loop; how often the log is pruned.
LEASE_MARGIN_S = 30.0
IDLE_POLL_S = 1.0
PRUNE_EVERY_S = 600.0
ERROR_EXCERPT_CHARS = 200


def backoff_s(attempts: int, base_s: float, most_s: float) -> float:
    """Seconds before attempt `attempts + 1`: base × 2^(attempts−1), at most `most_s`, with
    ±20 % jitter so receivers that come back are not met by every retry at once."""
    delay = min(base_s * 2.0 ** (attempts - 1), most_s)
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)


class Deliverer:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.webhook_max_concurrent)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.settings.webhook_allow_private_targets),
            use_dns_cache=False,  # each connection resolves (and checks) anew
            limit=self.settings.webhook_max_concurrent,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s),
            trust_env=False,  # no proxy from the environment: the checked address is called
        )
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self) -> None:
        """Stops sending; attempts under way are abandoned (their claims run out and they
        are sent again, under the same webhook-id, by whichever gateway runs next)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        pruned_at = 0.0
        while True:
            try:
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    await repository.forget_finished(
                        self.pool, self.settings.webhook_log_retention_s
                    )
                claimed = await self.send_due()
            except Exception as e:  # the database away: try again in a moment
                log.warning("webhook delivery round failed: %s", e)
                claimed = 0
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)
                self._wake.clear()

    async def send_due(self) -> int:
        """Claim as many due deliveries as there are free slots and start sending them."""
        free = self.settings.webhook_max_concurrent - len(self._in_flight)
        if free <= 0:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            return 0
        lease_s = self.settings.webhook_timeout_s + LEASE_MARGIN_S
        due = await repository.claim_due(self.pool, free, lease_s)
        for delivery in due:
            task = asyncio.create_task(self._deliver(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(due)

    async def _deliver(self, due: Due) -> None:
        async with self._slots:
            status, error = await self.attempt(due)
        try:
            await self._record(due, status, error)
        except Exception as e:  # the claim runs out and the delivery is sent again (same id)
            log.warning("could not record webhook delivery %s: %s", due.id, e)

    async def _record(self, due: Due, status: int | None, error: str | None) -> None:
        if error is None and status is not None:
            ATTEMPTS.labels("delivered").inc()
            await repository.delivered(self.pool, due.id, status)
            return
        message = error or "no answer"
        settings = self.settings
        if due.attempts >= settings.webhook_max_attempts:
            ATTEMPTS.labels("failed").inc()
            log.info("webhook delivery %s failed after %d attempts", due.id, due.attempts)
            await repository.attempt_failed(self.pool, due.id, status, message, None)
        else:
            ATTEMPTS.labels("retry").inc()
            wait = backoff_s(
                due.attempts, settings.webhook_retry_base_s, settings.webhook_retry_max_s
            )
            await repository.attempt_failed(self.pool, due.id, status, message, wait)

    async def attempt(self, due: Due) -> tuple[int | None, str | None]:
        """One POST: (status code, None) on a 2xx, else (status code or None, why)."""
        assert self._session is not None
        allow_private = self.settings.webhook_allow_private_targets
        try:
            host, _ = split_target(due.url)
            if literal_address(host) is not None:  # aiohttp asks no resolver about these
                await check_target(due.url, allow_private=allow_private, resolve_timeout_s=1)
        except TargetRefusedError as e:
            return None, f"not sent: the url {e}"
        body = due.body.encode()
        sent = headers(str(due.id), int(time.time()), due.body, due.keys)
        limit = self.settings.webhook_response_bytes
        try:
            async with self._session.post(
                due.url, data=body, headers=sent, allow_redirects=False
            ) as response:
                excerpt = await response.content.read(limit) if limit else b""
                status = response.status
        except TimeoutError:
            return None, f"no answer within {self.settings.webhook_timeout_s:g} s"
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, TargetRefusedError):
                return None, f"not sent: the url {e.os_error}"
            return None, f"could not connect: {e.os_error or e}"
        except aiohttp.ClientError as e:
            return None, f"the call failed: {e}"
        if 200 <= status < 300:
            return status, None
        said = excerpt.decode("utf-8", "replace").strip()[:ERROR_EXCERPT_CHARS]
        why = f"the receiver answered {status}"
        if 300 <= status < 400:
            why += " (redirects are not followed)"
        return status, f"{why}: {said}" if said else why
