"""The worker error policy against a real nats-server: retries with backoff, giving up,
permanent failures, heartbeats on long work, and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cadenza.contracts import (
    ArtifactRef,
    EffectsCompleted,
    EffectsFailed,
    EffectsRequested,
    Event,
    JobProgress,
)
from cadenza.contracts.consumers import EFFECTS_CONSUMER
from cadenza.contracts.pipeline import MasterStep, MixStep, RenderStep
from cadenza.contracts.render import MasterRequested
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.settings import WorkerSettings
from cadenza.runtime.worker import JobRun, PermanentError

Work = Callable[[EffectsRequested, JobRun, int], Awaitable[None]]
REF = ArtifactRef(uri="file:///nowhere", media_type="audio/wav", bytes=1, sha256="0" * 64)


class Harness:
    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime
        self.behaviour: dict[uuid.UUID, Work] = {}
        self.attempts: dict[uuid.UUID, list[float]] = defaultdict(list)

    async def submit(self, work: Work, **fields: Any) -> EffectsRequested:
        command = EffectsRequested(
            job_id=uuid.uuid4(),
            owner="alice",
            correlation_id=uuid.uuid4(),
            input=REF,
            chain=[{"type": "gain"}],
            **fields,
        )
        self.behaviour[command.job_id] = work
        await self.runtime.bus.publish(command)
        return command

    async def facts(self, command: Event) -> list[Event]:
        js = self.runtime.broker.connection.jetstream()
        found: list[Event] = []
        for subject, cls in (
            ("effects.completed", EffectsCompleted),
            ("effects.failed", EffectsFailed),
        ):
            for msg in await stream_messages(js, subject, timeout_s=0.3):
                event = cls.model_validate_json(msg.data)
                if event.job_id == command.job_id:
                    found.append(event)
        return found

    async def wait_for_facts(self, command: Event, timeout_s: float = 20) -> list[Event]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if facts := await self.facts(command):
                return facts
            await asyncio.sleep(0.1)
        raise AssertionError(f"no fact for job {command.job_id} within {timeout_s}s")


@pytest.fixture
async def harness(fresh_nats: NatsServer, tmp_path: Path) -> AsyncIterator[Harness]:
    """A worker subscribed as the services are (subscribe_consumer), four jobs at once."""
    settings = WorkerSettings(
        nats_url=fresh_nats.url,
        storage_dir=tmp_path,
        max_deliver=3,
        ack_wait_s=1.5,
        retry_backoff_s=(0.3, 0.6),
        concurrency=4,
        per_account_concurrency=4,
    )
    runtime = WorkerRuntime(settings, "test-worker")
    h = Harness(runtime)

    async def work(cmd: EffectsRequested, run: JobRun) -> EffectsCompleted:
        h.attempts[cmd.job_id].append(time.monotonic())
        attempt = len(h.attempts[cmd.job_id])
        await h.behaviour[cmd.job_id](cmd, run, attempt)
        return EffectsCompleted.caused_by(
            cmd, stage=cmd.stage, outputs={cmd.prefixed("processed.wav"): REF}
        )

    subscribe_consumer(
        runtime, replace(EFFECTS_CONSUMER, durable="policy-test", title="policy-test"), work
    )
    async with runtime:
        await runtime.start_consuming()
        yield h


async def test_a_permanent_error_fails_the_job_once_with_its_reason(harness: Harness) -> None:
    async def bad_input(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
        raise PermanentError("upload 3f2 is not audio: libsndfile could not decode it")

    command = await harness.submit(bad_input)
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsFailed)
    assert fact.code == "invalid_input"
    assert fact.reason == "upload 3f2 is not audio: libsndfile could not decode it"
    await asyncio.sleep(1.0)
    assert len(harness.attempts[command.job_id]) == 1, "a permanent error is not retried"


async def test_transient_errors_are_retried_with_backoff_then_succeed(harness: Harness) -> None:
    async def flaky(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
        if attempt < 3:
            raise ConnectionError("storage hiccup")

    command = await harness.submit(flaky)
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsCompleted)
    times = harness.attempts[command.job_id]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.25, "first retry waits the first backoff"
    assert times[2] - times[1] >= 0.55, "second retry waits the second backoff"


async def test_the_last_delivery_gives_up_with_the_error(harness: Harness) -> None:
    async def broken(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
        raise ConnectionError(f"storage down (attempt {attempt})")

    command = await harness.submit(broken)
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsFailed)
    assert fact.code == "gave_up"
    assert fact.attempts == 3
    # The reason says what kind of trouble it was, not the exception's own text.
    assert "a service it needs (storage, database or the bus) kept failing" in fact.reason
    assert str(command.event_id) in fact.reason
    assert "storage down" not in fact.reason
    await asyncio.sleep(1.0)
    assert len(harness.attempts[command.job_id]) == 3


async def test_deterministic_errors_fail_at_once_without_their_text(harness: Harness) -> None:
    async def buggy(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
        raise ValueError("cannot reshape array at /srv/cadenza/var/artifacts/x.wav")

    command = await harness.submit(buggy)
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsFailed)
    assert (fact.code, fact.attempts) == ("internal", 1)
    assert "not retried" in fact.reason and str(command.event_id) in fact.reason
    assert "/srv" not in fact.reason and "reshape" not in fact.reason
    await asyncio.sleep(1.0)
    assert len(harness.attempts[command.job_id]) == 1, "a deterministic error is not retried"


async def test_heartbeats_keep_long_work_from_being_redelivered(harness: Harness) -> None:
    async def slow(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
        for step in range(8):  # 4 s of work against an ack wait of 1.5 s
            await asyncio.sleep(0.5)
            run.report((step + 1) / 8)

    command = await harness.submit(slow)
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsCompleted)
    assert len(harness.attempts[command.job_id]) == 1
    js = harness.runtime.broker.connection.jetstream()
    progress = [
        JobProgress.model_validate_json(m.data) for m in await stream_messages(js, "job.progress")
    ]
    mine = [p.progress for p in progress if p.job_id == command.job_id]
    # Reported at most every 0.25 s; what is pending at the end gives way to the fact.
    assert mine == sorted(mine) and len(mine) >= 4 and mine[-1] >= 0.75


async def test_a_cancelled_job_stops_and_publishes_nothing(harness: Harness) -> None:
    started = asyncio.Event()

    async def long(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
        started.set()
        for _ in range(100):
            await asyncio.sleep(0.05)
            await asyncio.to_thread(run.report, 0.1)  # raises once cancelled, as in a worker thread

    command = await harness.submit(long)
    await asyncio.wait_for(started.wait(), 10)
    await harness.runtime.cancellations.cancel(command.job_id, "owner asked")
    await asyncio.sleep(1.5)
    assert await harness.facts(command) == []
    assert len(harness.attempts[command.job_id]) == 1


class SwallowingBus:
    """A bus whose publish swallows cancellation, as asyncio.wait_for can on Python 3.11
    when a PubAck arrives at the moment of cancelling."""

    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, event: Event) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)
        self.published.append(event)


async def test_a_job_run_ends_even_if_publishing_swallows_cancellation(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    settings = WorkerSettings(nats_url=fresh_nats.url, storage_dir=tmp_path)
    runtime = WorkerRuntime(settings, "test-worker")
    command = EffectsRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=REF,
        chain=[{"type": "gain"}],
    )
    bus = SwallowingBus()
    async with runtime:
        started = time.monotonic()
        for _ in range(20):
            async with JobRun(
                bus=bus,  # type: ignore[arg-type]
                msg=None,
                command=command,
                stage="effects",
                cancellations=runtime.cancellations,
                heartbeat_s=10,
            ) as run:
                run.report(0.1)
                await asyncio.sleep(0.3)
                run.report(0.9)  # due: published by the progress task...
                await asyncio.sleep(0.01)  # ...which is mid-publish when the block exits
        assert time.monotonic() - started < 20 * (0.3 + 0.5)
    assert bus.published, "progress was published"


async def _noop(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
    return None


async def test_a_pipeline_step_hands_the_job_on_to_the_next_step(harness: Harness) -> None:
    command = await harness.submit(
        _noop,
        stage="polish",
        output_prefix="polish-",
        slip=(MasterStep(stage="master"),),
    )
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsCompleted)
    assert fact.stage == "polish" and fact.job_finished is False
    assert list(fact.outputs) == ["polish-processed.wav"]
    js = harness.runtime.broker.connection.jetstream()
    following = [
        MasterRequested.model_validate_json(m.data)
        for m in await stream_messages(js, MasterRequested.subject)
    ]
    (master,) = [m for m in following if m.job_id == command.job_id]
    assert master.stage == "master" and master.slip == () and master.output_prefix == ""
    assert master.input == REF and master.causation_id == fact.event_id


async def test_a_slip_that_cannot_go_on_fails_the_step_with_a_reason(harness: Harness) -> None:
    # A render needs MIDI; an effects step gives audio.
    command = await harness.submit(
        _noop, stage="effects", slip=(RenderStep(stage="render"), MixStep(stage="mix"))
    )
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsFailed)
    assert fact.code == "invalid_input"
    assert "the pipeline cannot go on after effects: expected one MIDI file" in fact.reason


class FairWorker(WorkerRuntime):
    started: list[tuple[str, uuid.UUID]]


@pytest.fixture
async def fair_runtime(fresh_nats: NatsServer, tmp_path: Path) -> AsyncIterator[FairWorker]:
    """A worker subscribed as the services are (subscribe_consumer): one job at a time,
    eight more held waiting for their turn."""
    settings = WorkerSettings(
        nats_url=fresh_nats.url,
        storage_dir=tmp_path,
        concurrency=1,
        fair_window=8,
        ack_wait_s=2.0,
    )
    runtime = FairWorker(settings, "fair-worker")
    runtime.started = []

    async def work(cmd: EffectsRequested, run: JobRun) -> EffectsCompleted:
        runtime.started.append((cmd.owner, cmd.job_id))
        seconds = float(cmd.chain[0].gain_db) if cmd.chain else 0.0  # type: ignore[union-attr]
        await asyncio.sleep(seconds)
        return EffectsCompleted.caused_by(cmd, stage=cmd.stage, outputs={"processed.wav": REF})

    subscribe_consumer(
        runtime, replace(EFFECTS_CONSUMER, durable="fair-test", title="fair-test"), work
    )
    async with runtime:
        await runtime.start_consuming()
        yield runtime


def _command(owner: str, seconds: float) -> EffectsRequested:
    return EffectsRequested(
        job_id=uuid.uuid4(),
        owner=owner,
        correlation_id=uuid.uuid4(),
        input=REF,
        chain=[{"type": "gain", "gain_db": seconds}],
    )


async def test_one_accounts_backlog_does_not_delay_another_account(
    fair_runtime: FairWorker,
) -> None:
    flood = [_command("flood", 0.6) for _ in range(4)]
    for command in flood:
        await fair_runtime.bus.publish(command)
    await asyncio.sleep(0.3)  # the first flood job is running, three wait
    quiet = _command("quiet", 0.0)
    await fair_runtime.bus.publish(quiet)
    started = fair_runtime.started
    for _ in range(100):
        if len(started) == 5:
            break
        await asyncio.sleep(0.1)
    owners = [owner for owner, _ in started]
    # In arrival order it would be the last; its turn comes right after the running job.
    assert owners == ["flood", "quiet", "flood", "flood", "flood"], owners


async def test_a_job_cancelled_while_waiting_for_its_turn_never_starts(
    fair_runtime: FairWorker,
) -> None:
    running = _command("someone", 1.0)
    waiting = _command("someone", 0.0)
    await fair_runtime.bus.publish(running)
    await fair_runtime.bus.publish(waiting)
    await asyncio.sleep(0.3)
    await fair_runtime.cancellations.cancel(waiting.job_id, "changed my mind")
    await asyncio.sleep(1.5)
    started = [job for _, job in fair_runtime.started]
    assert running.job_id in started
    assert waiting.job_id not in started


async def test_cpu_time_past_the_limit_stops_the_job(harness: Harness) -> None:
    def burn(run: JobRun) -> None:
        while True:  # CPU-bound work that checks in between blocks, as the workers do
            end = time.thread_time() + 0.05
            while time.thread_time() < end:
                pass
            run.checkpoint()

    async def greedy(cmd: EffectsRequested, run: JobRun, attempt: int) -> None:
        run.limit_cpu(0.5, "2 s of audio")
        await asyncio.to_thread(burn, run)

    started = time.monotonic()
    command = await harness.submit(greedy)
    (fact,) = await harness.wait_for_facts(command)
    assert isinstance(fact, EffectsFailed)
    assert fact.code == "over_budget"
    assert (
        "more than its 0 s of CPU time (2 s of audio)" in fact.reason or "CPU time" in fact.reason
    )
    assert time.monotonic() - started < 5
    assert len(harness.attempts[command.job_id]) == 1
