"""A worker's way out on SIGTERM (a scale-in, a rollout): nothing it holds waits on AckWait.

Without this, a stopping worker kept the commands it had fetched but not started (up to
FAIR_WINDOW of them) heartbeated for the whole graceful timeout, then dropped them without a
nak, so they came back only after AckWait: a minute or more before another replica could
start them. Now, in order:

1. it stops fetching: each pull loop is cancelled and its subscription unsubscribed, so
   nats-server delivers nothing more to this process (a pending pull request whose reply
   subject has no interest is not served; libs/runtime/tests/test_draining.py checks it);
2. what it holds but has not started goes back at once (nak without delay): another
   replica takes it on its next fetch;
3. the command at work gets `work_grace_s` to finish; then it stops at its next checkpoint
   and goes back the same way, so the process ends well within Kubernetes'
   terminationGracePeriodSeconds.

A hand-back uses one delivery (JetStream counts redeliveries against max_deliver); on its
last delivery a command is not handed back but kept, and finishes if it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from faststream.nats import NatsBroker

log = logging.getLogger(__name__)

# After the work's grace, how long a handler has to hand its command back and return.
HAND_BACK_S = 5.0


class HandedBackError(Exception):
    """The worker is stopping: this command goes back to JetStream for another replica."""


class Draining:
    """Whether this worker is stopping (`started`), and whether the work in hand must stop
    too (`abandoned`). Read from the event loop and from work threads (plain flags)."""

    def __init__(self) -> None:
        self.started = False
        self.abandoned = False

    def begin(self) -> None:
        self.started = True

    def abandon(self) -> None:
        if not self.abandoned:
            log.warning("the work in hand did not finish within its grace: handing it back")
        self.abandoned = True

    def check_not_started(self) -> None:
        """For a command not yet at work: raise once the worker is stopping."""
        if self.started:
            raise HandedBackError("the worker is stopping before this command's turn")

    def check_not_abandoned(self) -> None:
        """For the work in hand: raise once its grace is over."""
        if self.abandoned:
            raise HandedBackError("the worker is stopping and the work's grace is over")


def _is_fetch_loop(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", "").endswith("._consume_pull")


async def stop_fetching(broker: NatsBroker) -> int:
    """Stop every pull subscriber of `broker` from taking more messages, leaving the
    handlers at work running (their acks and naks use the message's own reply subject).
    Returns how many subscriptions were closed.

    FastStream's own stop() stops the loops only after the graceful wait, and drops without
    a nak a message fetched meanwhile; it has no public pause, hence its attributes here
    (`tasks`, `subscription`), pinned by libs/runtime/tests/test_draining.py."""
    closed = 0
    for subscriber in broker.subscribers:
        if getattr(subscriber, "max_workers", None) is None:
            # A plain pull loop runs its handlers inside itself (cancelling it would cancel
            # the work) and fetches only between them: FastStream's stop() suffices.
            continue
        tasks: list[asyncio.Task[Any]] = getattr(subscriber, "tasks", [])
        loops = [task for task in tasks if _is_fetch_loop(task)]
        for task in loops:
            tasks.remove(task)  # FastStream's supervisor restarts only the tasks it lists
            task.cancel()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        subscription = getattr(subscriber, "subscription", None)
        if subscription is not None and loops:
            try:
                await subscription.unsubscribe()
            except Exception as e:  # the connection is gone: nothing is delivered anyway
                log.warning("could not unsubscribe while draining: %s", e)
            subscriber.subscription = None  # type: ignore[attr-defined]
            closed += 1
    return closed
