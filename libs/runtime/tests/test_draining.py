"""A worker stopping (SIGTERM: a scale-in, a rollout) against a real nats-server: what it
holds but has not started goes to another replica at once, the work in hand finishes, or
goes back too once its grace is over; every job completes once."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats

from cadenza.contracts import ArtifactRef, EffectsCompleted, EffectsRequested
from cadenza.contracts.consumers import EFFECTS_CONSUMER
from cadenza.contracts.streams import EFFECTS
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.settings import WorkerSettings
from cadenza.runtime.worker import JobRun

REF = ArtifactRef(uri="file:///nowhere", media_type="audio/wav", bytes=1, sha256="0" * 64)
# Long enough that a redelivery after AckWait cannot pass for a hand-back.
ACK_WAIT_S = 30.0
Started = list[tuple[str, uuid.UUID]]


def _command(seconds: float) -> EffectsRequested:
    """A command whose work lasts `seconds` on its first delivery and none after."""
    return EffectsRequested(
        job_id=uuid.uuid4(),
        owner="someone",
        correlation_id=uuid.uuid4(),
        input=REF,
        chain=[{"type": "gain", "gain_db": seconds}],
    )


def _worker(
    nats_url: str, tmp_path: Path, name: str, started: Started, max_deliver: int = 5
) -> WorkerRuntime:
    """Subscribed as the services are (subscribe_consumer): one job at a time, eight more
    held waiting for their turn; the work checks in every 50 ms, as the workers do."""
    settings = WorkerSettings(
        nats_url=nats_url,
        storage_dir=tmp_path,
        concurrency=1,
        fair_window=8,
        ack_wait_s=ACK_WAIT_S,
        max_deliver=max_deliver,
    )
    runtime = WorkerRuntime(settings, name)

    def busy(run: JobRun, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.05)
            run.checkpoint()

    async def work(cmd: EffectsRequested, run: JobRun) -> EffectsCompleted:
        first = not any(job == cmd.job_id for _, job in started)
        started.append((name, cmd.job_id))
        step = cmd.chain[0] if cmd.chain else None
        seconds = float(getattr(step, "gain_db", 0.0)) if first else 0.0
        await asyncio.to_thread(busy, run, seconds)
        return EffectsCompleted.caused_by(cmd, stage=cmd.stage, outputs={"processed.wav": REF})

    subscribe_consumer(
        runtime, replace(EFFECTS_CONSUMER, durable="draining-test", title="draining-test"), work
    )
    return runtime


@contextlib.asynccontextmanager
async def _running(runtime: WorkerRuntime) -> AsyncIterator[WorkerRuntime]:
    async with runtime:
        await runtime.start_consuming()
        yield runtime


@contextlib.asynccontextmanager
async def _stopped_by_the_test(runtime: WorkerRuntime) -> AsyncIterator[Callable[[], Any]]:
    """Started here; `stop()` does what SIGTERM does (leaves the `async with`), and returns
    how long it took. Stopped on the way out if the test did not."""
    await runtime.__aenter__()
    stopped = False

    async def stop() -> float:
        nonlocal stopped
        stopped, began = True, time.monotonic()
        await runtime.__aexit__(None, None, None)
        return time.monotonic() - began

    try:
        await runtime.start_consuming()
        yield stop
    finally:
        if not stopped:
            await runtime.__aexit__(None, None, None)


async def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def _completed(nats_url: str) -> dict[uuid.UUID, int]:
    """Completed facts per job, as JetStream holds them (duplicates dropped by Nats-Msg-Id)."""
    nc = await nats.connect(nats_url)
    try:
        counts: dict[uuid.UUID, int] = {}
        for msg in await stream_messages(nc.jetstream(), "effects.completed", timeout_s=0.5):
            job = EffectsCompleted.model_validate_json(msg.data).job_id
            counts[job] = counts.get(job, 0) + 1
        return counts
    finally:
        await nc.close()


async def test_a_stopping_worker_hands_back_what_it_has_not_started(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    started: Started = []
    first = _worker(fresh_nats.url, tmp_path, "first", started)
    second = _worker(fresh_nats.url, tmp_path, "second", started)
    async with _stopped_by_the_test(first) as stop_first, contextlib.AsyncExitStack() as stack:
        at_work, *waiting = [_command(1.5), _command(0.0), _command(0.0)]
        for command in (at_work, *waiting):
            await first.bus.publish(command)
        js = first.broker.connection.jetstream()

        async def held() -> int:
            info = await js.consumer_info(EFFECTS.name, "draining-test")
            return int(info.num_ack_pending or 0)

        deadline = time.monotonic() + 10
        while not (started and await held() == 3):
            assert time.monotonic() < deadline, "the first worker never held all three"
            await asyncio.sleep(0.05)
        # A second replica is up; the first one is told to stop (what SIGTERM does).
        await stack.enter_async_context(_running(second))
        stopping = time.monotonic()
        stopped_after = await stop_first()
        await _wait(lambda: len(started) == 3, 10, f"not every job started: {started}")
        handed_over = time.monotonic() - stopping
        await asyncio.sleep(0.5)  # the last fact published
        done = await _completed(fresh_nats.url)

    assert started[0] == ("first", at_work.job_id)
    assert {(name, job) for name, job in started[1:]} == {("second", c.job_id) for c in waiting}
    # The waiting two went over at once, not after AckWait (30 s); the one at work finished.
    assert handed_over < 5, handed_over
    assert stopped_after < 5, stopped_after
    assert done == {c.job_id: 1 for c in (at_work, *waiting)}


async def test_work_past_its_grace_goes_back_at_its_next_checkpoint(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    started: Started = []
    first = _worker(fresh_nats.url, tmp_path, "first", started)
    first.work_grace_s = 1.0
    second = _worker(fresh_nats.url, tmp_path, "second", started)
    async with _stopped_by_the_test(first) as stop_first, contextlib.AsyncExitStack() as stack:
        slow = _command(20.0)
        await first.bus.publish(slow)
        await _wait(lambda: len(started) == 1, 10, "the job never started")
        await stack.enter_async_context(_running(second))
        stopping = time.monotonic()
        stopped_after = await stop_first()
        await _wait(lambda: len(started) == 2, 10, f"the job never came back: {started}")
        handed_over = time.monotonic() - stopping
        await asyncio.sleep(0.5)
        done = await _completed(fresh_nats.url)

    assert [name for name, _ in started] == ["first", "second"]
    # Stopped after its grace (1 s) instead of running on for 20 s; back at once.
    assert 0.9 < stopped_after < 4, stopped_after
    assert handed_over < 5, handed_over
    assert done == {slow.job_id: 1}


async def test_a_command_on_its_last_delivery_is_not_handed_back(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    """Handed back on its last delivery it would never come back: it finishes instead."""
    started: Started = []
    first = _worker(fresh_nats.url, tmp_path, "first", started, max_deliver=1)
    first.work_grace_s = 1.0
    async with _stopped_by_the_test(first) as stop_first:
        command = _command(2.5)
        await first.bus.publish(command)
        await _wait(lambda: len(started) == 1, 10, "the job never started")
        stopped_after = await stop_first()
    assert await _completed(fresh_nats.url) == {command.job_id: 1}
    assert stopped_after > 1.5, "it must have worked on past its grace"


async def test_a_worker_that_stopped_fetching_is_delivered_nothing_more(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    """Its pull requests are still open on the server when it stops fetching: the inbox's
    interest goes, and nats-server keeps the message for another replica."""
    started: Started = []
    worker = _worker(fresh_nats.url, tmp_path, "worker", started)
    async with _running(worker):
        await asyncio.sleep(0.5)  # its pull requests wait on the server
        (consumer,) = worker.consumers
        assert consumer.requested == consumer.slots + 2 == 3  # the slot and two lookouts
        await consumer.stop_fetching()
        command = _command(0.0)
        await worker.bus.publish(command)
        await asyncio.sleep(1.0)
        js = worker.broker.connection.jetstream()
        info = await js.consumer_info(EFFECTS.name, "draining-test")
        assert (info.num_pending, info.num_ack_pending) == (1, 0)
        assert started == []
