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
) -> PullConsumer:
    """Run `work(command, run)` for each of `consumer`'s commands and publish the fact it
    returns (its `completed`), as `consumer` declares (`cadenza.contracts.consumers`, which
    the AsyncAPI document describes). The consumer starts with the runtime
    (`WorkerRuntime.start_consuming`)."""
    settings: WorkerSettings = runtime.settings

    async def handler(msg: Msg) -> None:
        # A body that is not this command is naked like any failure: redelivered up to
        # max_deliver, then dead-lettered with its job failed (cadenza.runtime.dead_letters).
        cmd = consumer.command.model_validate_json(msg.data)
        await handle_command(
            command=cmd,
            msg=msg,
            stage=consumer.stage,
            failed=consumer.failed,
            bus=runtime.bus,
            cancellations=runtime.cancellations,
            settings=settings,
            work=partial(work, cmd),
            fair=runtime.fair,
            draining=runtime.draining,
        )

    # Commands held at once: those at work, and a window waiting for their turn.
    holding = settings.concurrency + settings.fair_window
    pulling = PullConsumer(
        ConsumerSpec(
            stream=consumer.stream.name,
            durable=consumer.durable,
            subject=consumer.command.subject,
            # No consumer-level BackOff: it would replace AckWait for every delivery. Retry
            # delays come from the handler's nak(delay) instead (cadenza.runtime.worker).
            max_deliver=settings.max_deliver,
            ack_wait_s=settings.ack_wait_s,
            max_ack_pending=max(holding * 2, 16),
        ),
        handler,
        capacity=holding,
        slots=settings.concurrency,
        title=consumer.title,
    )
    runtime.consumers.append(pulling)
    return pulling
