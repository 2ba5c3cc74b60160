"""The webhooks' durable JetStream consumers: every job fact goes through `fan_out` once.

Replicas share each consumer, and a fact is acknowledged only after its delivery rows are
committed, so a gateway that stops (or crashes) loses no event: the next one reads on from
where the consumer was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from pydantic import ValidationError

from cadenza.contracts.consumers import WEBHOOK_CONSUMERS
from cadenza.contracts.envelope import Event
from cadenza.contracts.registry import decode_event
from cadenza.gateway.webhooks.fanout import NotProjectedYetError, fan_out

log = logging.getLogger(__name__)

# Waits for the projection to apply a fact, within one delivery of it, before asking
# JetStream for it again later; and how many times a fact is read before it is given up.
WAITS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
RETRY_DELAY_S = 2.0
MAX_READS = 60


def _decode(msg: NatsMessage) -> Event | None:
    try:
        return decode_event(msg.raw_message.subject, msg.body)
    except (KeyError, ValidationError):
        return None  # unknown (a newer service) or malformed: the projection logs those


def install_webhook_feed(
    broker: NatsBroker, pool: asyncpg.Pool, wake: Callable[[], None], max_pending_progress: int
) -> None:
    for consumer in WEBHOOK_CONSUMERS:

        @broker.subscriber(
            consumer.filter_subject,
            stream=JStream(consumer.stream.name, declare=False),
            durable=consumer.durable,
            pull_sub=PullSub(batch_size=32, timeout=1.0),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            config=ConsumerConfig(ack_wait=30),
            title=consumer.title,
        )
        async def feed(msg: NatsMessage) -> None:
            event = _decode(msg)
            if event is None:
                return
            for wait_s in (*WAITS_S, None):
                try:
                    added = await fan_out(pool, event, max_pending_progress=max_pending_progress)
                except NotProjectedYetError as e:
                    if wait_s is not None:
                        await asyncio.sleep(wait_s)
                        continue
                    reads = msg.raw_message.metadata.num_delivered or 1
                    if reads >= MAX_READS:
                        log.warning("webhooks: giving up on %s: %s", event.subject, e)
                        return
                    raise NackMessage(delay=RETRY_DELAY_S) from e
                except Exception as e:
                    log.warning("webhooks: could not queue deliveries; retrying: %s", e)
                    raise NackMessage(delay=RETRY_DELAY_S) from e
                if added:
                    wake()
                return
