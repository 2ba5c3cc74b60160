"""How a worker subscribes to its commands: one durable pull consumer
(`cadenza.runtime.pull_consumer`), the same delivery rules for every service, and the error
policy of `cadenza.runtime.worker`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from nats.aio.msg import Msg

from cadenza.contracts.consumers import CommandConsumer
from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.streams import StreamSpec
from cadenza.runtime.pull_consumer import ConsumerSpec, PullConsumer
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
) -> PullConsumer:
    """Run `work(command, run)` for each `command` and publish the fact it returns. The
    consumer starts with the runtime (`WorkerRuntime.start_consuming`)."""
    settings: WorkerSettings = runtime.settings

    async def handler(msg: Msg) -> None:
        # A body that is not this command is naked like any failure: redelivered up to
        # max_deliver, then dead-lettered with its job failed (cadenza.runtime.dead_letters).
        cmd = command.model_validate_json(msg.data)
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

    # Commands held at once: those at work, and a window waiting for their turn.
    holding = settings.concurrency + settings.fair_window
    consumer = PullConsumer(
        ConsumerSpec(
            stream=stream.name,
            durable=durable,
            subject=command.subject,
            # No consumer-level BackOff: it would replace AckWait for every delivery. Retry
            # delays come from the handler's nak(delay) instead (cadenza.runtime.worker).
            max_deliver=settings.max_deliver,
            ack_wait_s=settings.ack_wait_s,
            max_ack_pending=max(holding * 2, 16),
        ),
        handler,
        capacity=holding,
        slots=settings.concurrency,
        title=title,
        description=description,
    )
    runtime.consumers.append(consumer)
    return consumer
