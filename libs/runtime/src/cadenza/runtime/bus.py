"""The event bus: connecting, declaring streams, and the one publish helper."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
from faststream.nats import NatsBroker
from faststream.nats.security import NatsCredentials, NatsSecurity, NatsUserPassword
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue

from cadenza.contracts.envelope import Envelope
from cadenza.contracts.streams import ALL_STREAMS, JOBS, StreamSpec, stream_for_subject
from cadenza.runtime.settings import BusSettings

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
# Pings without a PONG before a client leaves its server (NATS_STALE_AFTER_S / 3 apart).
STALE_PINGS = 2


def tls_context(settings: BusSettings) -> ssl.SSLContext | None:
    """TLS for the NATS connection: verifying the servers against NATS_TLS_CA_FILE and
    presenting NATS_TLS_CERT_FILE where they ask for a client certificate. None when no CA
    is set (a tls:// URL still gets TLS, against the system's CAs)."""
    if settings.nats_tls_ca_file is None:
        if settings.nats_tls_cert_file is not None:
            raise ValueError("NATS_TLS_CERT_FILE needs NATS_TLS_CA_FILE (the servers' CA)")
        return None
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(settings.nats_tls_ca_file)
    )
    if settings.nats_tls_cert_file is not None and settings.nats_tls_key_file is not None:
        context.load_cert_chain(settings.nats_tls_cert_file, settings.nats_tls_key_file)
    return context


def nats_security(settings: BusSettings) -> NatsSecurity | None:
    """TLS, and credentials-file or user/password auth, as FastStream takes them."""
    context = tls_context(settings)
    if settings.nats_creds_file is not None:
        return NatsCredentials.from_file(settings.nats_creds_file, ssl_context=context)
    if (user_password := settings.nats_user_password) is not None:
        return NatsUserPassword(*user_password, ssl_context=context)
    return NatsSecurity(ssl_context=context) if context is not None else None


def connect_options(settings: BusSettings) -> dict[str, Any]:
    """The same, as keyword arguments of nats.connect (for plain nats-py clients)."""
    options: dict[str, Any] = {
        "servers": settings.nats_addresses,
        "connect_timeout": settings.nats_connect_timeout_s,
        "ping_interval": settings.nats_ping_interval_s,
        "max_outstanding_pings": STALE_PINGS,
    }
    if (context := tls_context(settings)) is not None:
        options["tls"] = context
    if settings.nats_creds_file is not None:
        options["user_credentials"] = str(settings.nats_creds_file)
    elif (user_password := settings.nats_user_password) is not None:
        options["user"], options["password"] = user_password
    return options


def make_broker(
    settings: BusSettings, *, name: str, graceful_timeout_s: float = 15.0
) -> NatsBroker:
    """A broker that reconnects forever: a NATS restart must not kill a service."""
    return NatsBroker(
        settings.nats_addresses,
        security=nats_security(settings),
        name=name,
        logger=broker_logger(),
        connect_timeout=settings.nats_connect_timeout_s,
        ping_interval=settings.nats_ping_interval_s,
        max_outstanding_pings=STALE_PINGS,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout_s,
    )


class EmptyFetchRestarts(logging.Filter):
    """Leaves out what FastStream's task supervisor says when a pull consumer's loop ended
    on an empty fetch. nats-py's fetch() sometimes raises asyncio's own TimeoutError (its
    subclass nats.errors.TimeoutError is what FastStream's loop expects and ignores); the
    supervisor then starts the loop again, which is right, but logs it as an ERROR with a
    traceback. Restarts for any other exception are kept, as are all other records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("callback for ") and message.endswith(" is being executed..."):
            return False  # said at INFO each time one of its tasks ends
        error = record.exc_info[1] if record.exc_info else None
        return not (type(error) is TimeoutError and "raised an exception, retrying" in message)


def broker_logger() -> logging.Logger:
    """The logger the brokers write to: through the service's handlers and format (not
    FastStream's own coloured one), without the supervisor's restarts of an empty fetch."""
    logger = logging.getLogger("cadenza.bus.faststream")
    if not any(isinstance(f, EmptyFetchRestarts) for f in logger.filters):
        logger.addFilter(EmptyFetchRestarts())
    return logger


async def nats_answers(broker: NatsBroker, timeout_s: float = 2.0) -> bool:
    """A real round trip (PING/PONG), not just the client's idea of its connection."""
    try:
        connection = broker.connection
    except Exception:
        return False
    if connection is None or not connection.is_connected:
        return False
    try:
        await connection.flush(timeout=max(1, round(timeout_s)))
    except Exception:
        return False
    return True


def stream_config(spec: StreamSpec, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        description=spec.description,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_s,
        duplicate_window=spec.duplicate_window_s,
        max_msg_size=spec.max_msg_size,
        num_replicas=max(replicas, spec.replicas),
    )


# What JetStream answers (or fails to) while it cannot yet: a cluster without a meta leader
# (starting, or electing after losing a node), or busy creating replicated streams for
# every service starting at once.
NOT_YET = (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError)
START_PATIENCE_S = 120.0
T = TypeVar("T")


async def patiently(
    what: str, attempt: Callable[[], Awaitable[T]], patience_s: float = START_PATIENCE_S
) -> T:
    """`attempt()`, again while JetStream cannot answer yet, for up to `patience_s` (for
    what a service does as it starts)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return await attempt()
        except NOT_YET as e:
            if time.monotonic() > deadline:
                raise
            log.warning("JetStream cannot %s yet (%r); asking again", what, e)
            await asyncio.sleep(1.0)


async def ensure_streams(
    js: JetStreamContext,
    specs: tuple[StreamSpec, ...] = ALL_STREAMS,
    replicas: int = 1,
    *,
    patience_s: float = START_PATIENCE_S,
) -> None:
    """Create each stream, or bring an existing one to the configuration in code; asks
    again while JetStream cannot answer yet, for up to `patience_s`."""
    deadline = time.monotonic() + patience_s
    for spec in specs:
        config = stream_config(spec, replicas)
        await patiently(
            f"set up {spec.name}",
            functools.partial(_ensure_stream, js, config),
            max(0.0, deadline - time.monotonic()),
        )


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
    else:
        await js.update_stream(config)


async def event_stream_replicas(js: JetStreamContext) -> int:
    """How many replicas the event streams have (the JOBS stream's; 1 before it exists)."""
    try:
        info = await js.stream_info(JOBS.name)
    except NotFoundError:
        return 1
    return info.config.num_replicas or 1


async def key_value_bucket(
    js: JetStreamContext, name: str, *, ttl_s: float, replicas: int | None = None
) -> KeyValue:
    """A key-value bucket (latest value only, file storage), created on first use.

    It has as many replicas as the event streams unless `replicas` says otherwise, and one
    created with fewer is brought up to them: a bucket on one node of a cluster is gone
    (cancellations unknown, workers unable to start) while that node is down."""
    wanted = replicas if replicas is not None else await event_stream_replicas(js)
    try:
        bucket = await js.key_value(name)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=name, history=1, ttl=ttl_s, storage=StorageType.FILE, replicas=wanted
            )
        )
    config = (await js.stream_info(f"KV_{name}")).config
    if (config.num_replicas or 1) < wanted:
        await js.update_stream(dataclasses.replace(config, num_replicas=wanted))
        log.info("bucket %s now has %d replicas", name, wanted)
    return bucket


class Bus:
    """Publishes events to JetStream with `Nats-Msg-Id` = event id (duplicates are dropped).

    Through nats-py's JetStream context on the broker's connection, not the broker's own
    publish: FastStream's publisher path (middlewares, a producer per call) cost the
    workers' event loop more than the publish itself (docs/benchmarks.md)."""

    def __init__(self, broker: NatsBroker, *, timeout_s: float = 5.0) -> None:
        self.broker = broker
        self.timeout_s = timeout_s

    async def publish(self, event: Envelope) -> PubAck:
        js = self.broker.connection.jetstream(timeout=self.timeout_s)
        return await js.publish(
            event.subject,
            event.model_dump_json().encode(),
            timeout=self.timeout_s,
            stream=stream_for_subject(event.subject).name,
            headers={
                MSG_ID_HEADER: str(event.event_id),
                "content-type": "application/json",
                "correlation_id": str(event.correlation_id),
            },
        )
