"""Webhook deliveries from job facts, queued by the projection's durable consumers right
after each fact is applied (one consumer per stream for both: each fact is read once).

A fact is acknowledged only after its delivery rows are committed, so a gateway that stops
(or crashes) loses no event: the next one reads on from where the consumer was, and the
rows' ids make a second reading add nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from cadenza.contracts.envelope import Event
from cadenza.gateway.webhooks.fanout import fan_out


def queue_deliveries(
    pool: asyncpg.Pool, wake: Callable[[], None], max_pending_progress: int
) -> Callable[[Event], Awaitable[None]]:
    """What the projection's consumer runs after applying a fact: the webhook deliveries it
    makes, inserted (raises to have the fact read again); wakes the delivery loop."""

    async def after_projection(event: Event) -> None:
        if await fan_out(pool, event, max_pending_progress=max_pending_progress):
            wake()

    return after_projection
