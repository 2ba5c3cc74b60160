"""A worker's commands from its durable JetStream consumer, through a pull loop of our own.

Until issue 22 the workers took their commands through FastStream's pull subscriber: one
pull request per message, one fetch task per request, the message decoded through
FastDepends and settled by its ack middleware. bench/bus_profile.py measured what that
costs the worker's event loop per job (docs/benchmarks.md, "Where the time goes"), more
than the job's own bookkeeping. Its batch fetch was no way out: nats-py's fetch(batch>1)
holds the first message until the batch fills or the request expires, so a lone job waits.

`PullConsumer` works the way nats.go's Consume does: it keeps pull requests outstanding,
nats-server sends each message as soon as the stream stores it, on one inbox
subscription, and each message is handled in a task of its own.

How many it asks for: enough to fill the process's work slots (`slots`: CONCURRENCY), and
two more, lookouts, while the window has room (`capacity`: slots + FAIR_WINDOW, the
commands held waiting for a turn so one account's backlog does not hold up another's).
Each message that arrives asks for the next lookout, so with a backlog in the stream the
window fills a message at a time, and a command from another account arriving while the
slots are busy is held at once and gets the next turn. A message at a time on purpose:
nats-server serves pull requests first come, first served, and a replica asking for its
whole window at once took a burst of jobs into its own queue while another replica had
room, a longer tail; this way the replicas take turns. Two lookouts, not one: one arrives
while the other is being asked for again, so a replica working through a backlog never
waits a round trip for its next command (bench.vs_celery, same runs: 1.32–1.39× Celery's
throughput with two, 1.22–1.28× with one; docs/benchmarks.md).

A request expires after `expires_s` (nats-server says so with a 408 and how many of its
messages it never sent); while one is open and idle, nats-server sends a heartbeat every
`heartbeat_s`, so a request lost with its server (a restart, a new stream leader) is
noticed when neither messages nor heartbeats come, and asked for again.

Delivery rules are JetStream's, as before: explicit acks, AckWait, max_deliver, a nak with
a delay for a retry (`NakError`), and redelivery of whatever is not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from cadenza.runtime.bus import patiently

log = logging.getLogger(__name__)

STATUS = "Status"
DESCRIPTION = "Description"
# In a 408 (request expired) or a 409: how many of the request's messages were never sent.
PENDING_MESSAGES = "Nats-Pending-Messages"
API_PREFIX = "$JS.API"
# Messages asked for beyond those held, while the window has room (see above).
LOOKOUT = 2


class NakError(Exception):
    """Raised by a handler: give the message back to JetStream, redelivered after `delay`
    seconds (0: at once, to whichever replica asks first)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(f"nak (redeliver after {delay:g} s)")
        self.delay = delay


@dataclass(frozen=True)
class ConsumerSpec:
    """The durable consumer, as the worker declares it (created or brought up to date)."""

    stream: str
    durable: str
    subject: str
    max_deliver: int
    ack_wait_s: float
    max_ack_pending: int

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            filter_subject=self.subject,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait_s,
            max_ack_pending=self.max_ack_pending,
        )


class PullConsumer:
    """Runs `handler(msg)` for each message of `spec`'s consumer, at most `capacity` at once
    (every message held counts, at work or waiting for its turn). A handler that returns
    acks its message; one that raises `NakError` naks it with the delay; any other exception
    naks it at once (logged): the error policy above this lives in the handler."""

    def __init__(
        self,
        spec: ConsumerSpec,
        handler: Callable[[Msg], Awaitable[None]],
        *,
        capacity: int,
        slots: int | None = None,
        expires_s: float = 30.0,
        heartbeat_s: float = 2.0,
        title: str = "",
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.spec = spec
        self.handler = handler
        self.capacity = capacity
        self.slots = min(slots or capacity, capacity)
        self.expires_s = expires_s
        self.heartbeat_s = heartbeat_s
        self.title = title or spec.durable
        self.held = 0  # messages received and not yet settled
        self.requested = 0  # messages asked for and not yet received
        self.stopping = False
        self._nc: NatsClient | None = None
        self._sub: Subscription | None = None
        self._inbox = ""
        self._next_subject = f"{API_PREFIX}.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}"
        self._last_heard = time.monotonic()
        self._reconnects = 0
        self._watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self, nc: NatsClient) -> None:
        """Create (or update) the durable consumer and start asking for its messages."""
        self._nc = nc
        js = nc.jetstream()
        await patiently(
            f"create the consumer {self.spec.durable}",
            lambda: js.add_consumer(self.spec.stream, self.spec.config()),
        )
        self._inbox = nc.new_inbox()
        self._sub = await nc.subscribe(self._inbox, cb=self._on_message)
        self._reconnects = nc.stats["reconnects"]
        self._last_heard = time.monotonic()
        await self._ask()
        self._watch = asyncio.create_task(self._watch_requests(), name=f"pull-{self.title}")

    async def stop_fetching(self) -> None:
        """Take no more messages: the inbox's interest goes (nats-server serves no pull
        request whose reply subject nobody listens to), and a message that arrives
        meanwhile goes straight back (nak). The handlers at work go on."""
        self.stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        sub, self._sub = self._sub, None
        if sub is None:
            return
        try:
            await asyncio.wait_for(sub.drain(), timeout=5.0)  # type: ignore[no-untyped-call]
        except Exception as e:  # the connection is gone: nothing is delivered anyway
            log.warning("could not close the pull subscription of %s: %s", self.title, e)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the handlers at work; False if some still run."""
        if not self._tasks:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout_s: float) -> None:
        """Stop fetching, give the handlers `timeout_s`, then cancel what is left (its
        message comes back after AckWait)."""
        await self.stop_fetching()
        if not await self.wait_idle(timeout_s):
            left = list(self._tasks)
            log.warning("%d handlers of %s did not finish in time", len(left), self.title)
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    async def _on_message(self, msg: Msg) -> None:
        self._last_heard = time.monotonic()
        headers = msg.headers
        if headers is not None and (status := headers.get(STATUS)):
            await self._on_status(status, headers)
            return
        if self.requested > 0:
            self.requested -= 1
        if self.stopping:
            with contextlib.suppress(Exception):
                await msg.nak()
            return
        self.held += 1
        self._idle.clear()
        task = asyncio.create_task(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await self._ask()  # the next lookout

    async def _handle(self, msg: Msg) -> None:
        try:
            await self.handler(msg)
        except NakError as nak:
            await self._settle(msg.nak(nak.delay or None), "nak")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a handler of %s failed; the message goes back", self.title)
            await self._settle(msg.nak(), "nak")
        else:
            await self._settle(msg.ack(), "ack")
        finally:
            self.held -= 1
            if self.held == 0:
                self._idle.set()
            if not self.stopping:
                await self._ask()

    async def _settle(self, settling: Awaitable[None], what: str) -> None:
        try:
            await settling
        except Exception as e:  # the connection dropped: JetStream redelivers after AckWait
            log.warning("could not %s a message of %s: %s", what, self.title, e)

    async def _on_status(self, status: str, headers: dict[str, str]) -> None:
        if status == "100":  # an idle request's heartbeat
            return
        pending = headers.get(PENDING_MESSAGES)
        if pending is not None and pending.isdigit():
            self.requested = max(0, self.requested - int(pending))
        else:
            self.requested = 0  # which request ended is unknown: ask afresh
        if status not in ("404", "408"):
            log.info(
                "the pull requests of %s: %s %s", self.title, status, headers.get(DESCRIPTION, "")
            )
        if status == "409" and "deleted" in headers.get(DESCRIPTION, "").lower():
            log.warning("the consumer %s was deleted: declaring it again", self.spec.durable)
            await self._declare_again()
        await self._ask()

    async def _declare_again(self) -> None:
        """Declare the consumer again (deleted, or new to the server that answers now: a
        cluster that lost it, a server restarted without its store)."""
        if self._nc is None:
            return
        try:
            await self._nc.jetstream().add_consumer(self.spec.stream, self.spec.config())
        except Exception as e:
            log.warning("could not declare the consumer %s again: %s", self.spec.durable, e)

    async def _ask(self) -> None:
        """Ask for what the work slots lack and, while the window has room, the lookouts."""
        nc = self._nc
        if self.stopping or nc is None or not nc.is_connected:
            return
        limit = min(self.capacity, max(self.slots, self.held) + LOOKOUT)
        want = limit - self.held - self.requested
        if want > 0:
            await self._request(nc, want)

    async def _request(self, nc: NatsClient, batch: int) -> None:
        self.requested += batch
        body = b'{"batch":%d,"expires":%d,"idle_heartbeat":%d}' % (
            batch,
            int(self.expires_s * 1e9),
            int(self.heartbeat_s * 1e9),
        )
        try:
            await nc.publish(self._next_subject, body, reply=self._inbox)
        except Exception as e:
            self.requested -= batch
            log.warning("could not ask for messages of %s: %s", self.title, e)

    async def _watch_requests(self) -> None:
        """Ask afresh when the outstanding requests are gone: after a reconnect, or when
        neither a message nor a heartbeat came for more than two heartbeats (the server
        that held them restarted or stopped leading the stream)."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            nc = self._nc
            if nc is None or not nc.is_connected:
                continue
            silent = time.monotonic() - self._last_heard > 2.5 * self.heartbeat_s
            reconnected = nc.stats["reconnects"] != self._reconnects
            if reconnected or (silent and self.requested > 0):
                self._reconnects = nc.stats["reconnects"]
                if self.requested:
                    log.info(
                        "the pull requests of %s went unanswered (%s): asking again",
                        self.title,
                        "reconnected" if reconnected else "no heartbeat",
                    )
                self.requested = 0
                self._last_heard = time.monotonic()
                if reconnected:
                    await self._declare_again()
                await self._ask()
