"""The gateway's bus subscriptions: the projection (durable, shared by replicas) and the
live feed (core NATS, every replica hears every fact)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.js import JetStreamContext
from pydantic import ValidationError

from cadenza.contracts.consumers import LIVE_SUBJECTS, PROJECTION_CONSUMERS, live_title
from cadenza.contracts.envelope import Event
from cadenza.contracts.registry import decode_event
from cadenza.contracts.streams import ADVISORIES, MAX_DELIVERIES_ADVISORIES
from cadenza.gateway.job_feed import JobFeed
from cadenza.gateway.projection import Projection
from cadenza.runtime.bus import Bus
from cadenza.runtime.dead_letters import Advisory, keep_dead_letter

log = logging.getLogger(__name__)


def _decode(msg: NatsMessage) -> Event | None:
    subject = msg.raw_message.subject
    try:
        return decode_event(subject, msg.body)
    except KeyError:
        return None  # a subject this gateway does not know (a newer service): skip it
    except ValidationError:
        log.warning("dropping malformed event on %s", subject, exc_info=True)
        return None


AfterProjection = Callable[[Event], Awaitable[None]]


async def _nothing_more(_: Event) -> None:
    return None


def install_subscribers(
    broker: NatsBroker,
    projection: Projection,
    job_feed: JobFeed,
    after_projection: AfterProjection = _nothing_more,
    also_live: Callable[[Event], None] | None = None,
) -> None:
    """`after_projection` runs once an event is applied (the webhooks' deliveries), before
    it is acknowledged: one durable consumer per stream reads each event once for both."""
    for consumer in PROJECTION_CONSUMERS:

        @broker.subscriber(
            consumer.filter_subject,
            stream=JStream(consumer.stream.name, declare=False),
            durable=consumer.durable,
            pull_sub=PullSub(batch_size=32, timeout=1.0),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            config=ConsumerConfig(ack_wait=30),
            title=consumer.title,
        )
        async def project(msg: NatsMessage) -> None:
            event = _decode(msg)
            if event is None:
                return
            try:
                await projection.apply(event)
                await after_projection(event)
            except Exception as e:
                log.warning("projection failed; retrying: %s", e)
                raise NackMessage(delay=1.0) from e

    for pattern in LIVE_SUBJECTS:
        # no_reply: a JetStream publish is a request; answering it would race the PubAck.
        @broker.subscriber(pattern, no_reply=True, title=live_title(pattern))
        async def live(msg: NatsMessage) -> None:
            event = _decode(msg)
            if event is None:
                return
            if job_feed.watching(event.job_id):
                # What a socket is told, the projection has: reads agree with the socket.
                try:
                    await projection.apply(event)
                except Exception as e:  # the durable consumer records it later
                    log.warning("could not record %s before pushing it: %s", event.subject, e)
            job_feed.publish(event)
            if also_live is not None:
                also_live(event)  # the project rooms' activity


def install_dead_letter_keeper(broker: NatsBroker, bus: Bus, js: JetStreamContext) -> None:
    """One durable consumer on ADVISORIES shared by every gateway replica: each
    max-deliveries advisory is handled once (see cadenza.runtime.dead_letters)."""

    @broker.subscriber(
        MAX_DELIVERIES_ADVISORIES,
        stream=JStream(ADVISORIES.name, declare=False),
        durable="dead-letter-keeper",
        pull_sub=PullSub(batch_size=8, timeout=1.0),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        config=ConsumerConfig(ack_wait=30),
        title="dead-letter-keeper",
    )
    async def keep(msg: NatsMessage) -> None:
        try:
            advisory = Advisory.parse(msg.body)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an advisory that is not a max-deliveries notice")
            return
        try:
            failure = await keep_dead_letter(js, advisory)
            if failure is not None:
                await bus.publish(failure)
        except Exception as e:
            log.warning(
                "could not keep dead letter %s #%d: %s", advisory.stream, advisory.stream_seq, e
            )
            raise NackMessage(delay=2.0) from e
