"""How a worker subscribes to its commands: one durable pull consumer, the same delivery
rules for every service, and the error policy of `cadenza.runtime.worker`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, PullSub
from faststream.nats.annotations import NatsMessage

from cadenza.contracts.consumers import CommandConsumer
from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.streams import StreamSpec
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.settings import WorkerSettings
from cadenza.runtime.worker import JobRun, handle_command

C = TypeVar("C", bound=Event)
D = TypeVar("D", bound=StageCompleted)
F = TypeVar("F", bound=StageFailed)


def subscribe_consumer(
    runtime: WorkerRuntime,
    consumer: CommandConsumer[C, D, F],
    work: Callable[[C, JobRun], Awaitable[D]],
) -> None:
    """Subscribe as `consumer` declares (`cadenza.contracts.consumers`, which the AsyncAPI
    document describes); `work` must return the consumer's `completed` fact."""
    subscribe_commands(
        runtime,
        command=consumer.command,
        stream=consumer.stream,
        durable=consumer.durable,
        stage=consumer.stage,
        failed=consumer.failed,
        work=work,
        title=consumer.title,
        description=consumer.description,
    )


def subscribe_commands(
    runtime: WorkerRuntime,
    *,
    command: type[C],
    stream: StreamSpec,
    durable: str,
    stage: str,
    failed: type[StageFailed],
    work: Callable[[C, JobRun], Awaitable[Event]],
    title: str,
    description: str,
) -> None:
    """Run `work(command, run)` for each `command` and publish the fact it returns."""
    settings: WorkerSettings = runtime.settings
    context = runtime.broker.context

    async def handler(cmd: C) -> None:
        # The message from FastStream's context, not as a `Context` parameter: FastDepends
        # resolves such a parameter in a worker thread, two thread hops per command.
        msg: NatsMessage = context.get_local("message")
        await handle_command(
            command=cmd,
            msg=msg,
            stage=stage,
            failed=failed,
            bus=runtime.bus,
            cancellations=runtime.cancellations,
            settings=settings,
            work=partial(work, cmd),
            fair=runtime.fair,
            draining=runtime.draining,
        )

    # FastStream decodes the body by the handler's annotation: make it the concrete command
    # (also what the generated AsyncAPI document shows).
    handler.__annotations__ = {"cmd": command, "return": None}
    runtime.broker.subscriber(
        command.subject,
        stream=JStream(stream.name, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # No consumer-level BackOff: it would replace AckWait for every delivery. Retry
        # delays come from the handler's nak(delay) instead (cadenza.runtime.worker).
        config=ConsumerConfig(
            max_deliver=settings.max_deliver,
            ack_wait=settings.ack_wait_s,
            max_ack_pending=max((settings.concurrency + settings.fair_window) * 2, 16),
        ),
        # Commands held at once: those at work, and a window waiting for their turn.
        max_workers=holding
        if (holding := settings.concurrency + settings.fair_window) > 1
        else None,
        title=title,
        description=description,
    )(handler)
