"""A job fact → one delivery row per webhook that wants what it makes (no NATS here).

Run by the projection's durable consumers right after they apply the fact; a fact is
acknowledged only after its rows are committed, and each row's id is
`uuid5(webhook id, webhook event id)`, so reading a fact again (a redelivery, a restart)
adds nothing.
"""

from __future__ import annotations

import uuid

import asyncpg

from cadenza.contracts.envelope import Event
from cadenza.gateway import repository as jobs_repository
from cadenza.gateway.webhooks import repository
from cadenza.gateway.webhooks.events import possible_types, webhook_events


def delivery_id(subscription_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(subscription_id, str(event_id))


async def fan_out(pool: asyncpg.Pool, event: Event, *, max_pending_progress: int) -> int:
    """Deliveries added for `event`, which the projection has just applied (the webhook
    events are read from the job it stored)."""
    types = possible_types(event)
    if not types:
        return 0
    subscriptions = await repository.matching(pool, event.owner, event.job_id, types)
    if not subscriptions:
        return 0
    job = await jobs_repository.get_job(pool, event.owner, event.job_id)
    if job is None:
        return 0  # removed by retention: nothing to say about it
    added = 0
    for webhook_event_id, payload in webhook_events(event, job):
        body = payload.model_dump_json()
        for subscription in subscriptions:
            if payload.type not in subscription.event_types:
                continue
            added += await repository.enqueue(
                pool,
                delivery_id(subscription.id, webhook_event_id),
                subscription.id,
                webhook_event_id,
                payload.type,
                job.id,
                body,
                # Progress is dropped, not queued without end, for a receiver that is down.
                max_pending=max_pending_progress if payload.type == "job.progress" else None,
            )
    return added
