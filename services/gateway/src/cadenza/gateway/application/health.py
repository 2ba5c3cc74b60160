"""Whether the gateway can do its work: the services it needs all answer."""

from __future__ import annotations

import asyncio

from cadenza.gateway import repository
from cadenza.gateway.services import Services
from cadenza.runtime.bus import nats_answers


async def unavailable(services: Services) -> dict[str, str]:
    """What does not answer (NATS, PostgreSQL, object storage), each with a sentence; empty
    when everything does. Each check is bounded by a timeout, so this returns in seconds."""
    problems: dict[str, str] = {}
    if not await nats_answers(services.broker):
        problems["nats"] = f"NATS at {services.settings.nats_where} does not answer"
    try:
        await asyncio.wait_for(repository.ping(services.pool), timeout=3.0)
    except Exception as e:
        problems["postgres"] = f"PostgreSQL does not answer: {type(e).__name__}: {e}"
    try:
        await asyncio.wait_for(services.store.ping(), timeout=5.0)
    except Exception as e:
        problems["storage"] = f"object storage does not answer: {type(e).__name__}: {e}"
    return problems
