"""Request/reply over core NATS, for reads a service answers for others (never captured by
a stream): a queue group spreads requests over replicas, and a bounded number of requests
run at once per replica."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[bytes]]


class Responder:
    """Answers requests on `subjects` with `handler`, at most `concurrency` at once."""

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscriptions: list[Subscription] = []

    async def serve(self, nc: Client, subject: str, queue: str, handler: Handler) -> None:
        async def on_request(msg: Msg) -> None:
            task = asyncio.create_task(self._answer(msg, handler), name=f"answer {subject}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._subscriptions.append(await nc.subscribe(subject, queue=queue, cb=on_request))

    async def _answer(self, msg: Msg, handler: Handler) -> None:
        async with self._slots:
            try:
                reply = await handler(msg.data)
            except Exception:
                log.exception("request on %s failed", msg.subject)
                return  # the requester times out; nothing to answer with
        if msg.reply:
            try:
                await msg.respond(reply)
            except Exception as e:  # the connection went away; the requester retries
                log.warning("could not answer a request on %s: %s", msg.subject, e)

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            try:
                await subscription.unsubscribe()
            except Exception as e:
                log.debug("unsubscribe failed: %s", e)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
