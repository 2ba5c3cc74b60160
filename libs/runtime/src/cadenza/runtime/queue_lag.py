"""Queue lag as Prometheus gauges: for every durable consumer of the given streams, the
messages not yet delivered and those delivered but not yet acknowledged. One process (the
gateway) exports them for all; KEDA reads the same numbers from NATS directly."""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Gauge

from cadenza.contracts.streams import StreamSpec

PENDING = Gauge(
    "cadenza_consumer_pending_messages",
    "Messages a consumer has not been delivered yet (its backlog)",
    ["stream", "consumer"],
)
ACK_PENDING = Gauge(
    "cadenza_consumer_ack_pending_messages",
    "Messages delivered to a consumer and not yet acknowledged (in progress)",
    ["stream", "consumer"],
)
REDELIVERED = Gauge(
    "cadenza_consumer_redelivered_messages",
    "Messages a consumer has delivered more than once and not yet acknowledged",
    ["stream", "consumer"],
)


async def export_consumer_lag(js: JetStreamContext, streams: Sequence[StreamSpec]) -> int:
    """Refresh the gauges; returns how many consumers were seen."""
    seen = 0
    for spec in streams:
        try:
            consumers = await js.consumers_info(spec.name)
        except NotFoundError:
            continue
        for info in consumers:
            name = info.name
            PENDING.labels(spec.name, name).set(info.num_pending or 0)
            ACK_PENDING.labels(spec.name, name).set(info.num_ack_pending or 0)
            REDELIVERED.labels(spec.name, name).set(info.num_redelivered or 0)
            seen += 1
    return seen
