"""How a worker handles one command: heartbeats, progress, cancellation and the error policy.

Only this layer touches messages and acks. The work itself is a plain callable that
receives a `JobRun` and calls `run.report(fraction)` from any thread as it goes.

Error policy (docs/architecture.md, "Delivery rules"):
- `PermanentError` (bad input): publish `<domain>.failed` with the reason, ack.
- any other exception: nack with a backoff delay; on the last allowed delivery,
  publish `<domain>.failed` (code `gave_up`) and ack, so no job waits forever.
- cancelled job: stop, ack, publish nothing (the gateway already recorded it).
- worker stopping (SIGTERM): a command not yet at work, or one still at work when its
  grace is over, is handed back (nak without delay) for another replica
  (`cadenza.runtime.draining`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Self

from nats.aio.msg import Msg

from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import FailureCode, JobProgress, StageCompleted, StageFailed
from cadenza.contracts.pipeline import PipelineCommand
from cadenza.contracts.routing import PipelineError, next_command
from cadenza.runtime.bus import Bus
from cadenza.runtime.cancellation import Cancellations
from cadenza.runtime.draining import Draining, HandedBackError
from cadenza.runtime.fair import FairSlots
from cadenza.runtime.heap import release_free_memory, release_when_idle
from cadenza.runtime.logging import job_context
from cadenza.runtime.metrics import worker_metrics
from cadenza.runtime.pull_consumer import NakError
from cadenza.runtime.settings import WorkerSettings

log = logging.getLogger(__name__)

# How often a command waiting for its turn heartbeats and looks for a cancellation.
TURN_POLL_S = 0.5
# How often a worker busy with one job after another gives free heap pages back.
RELEASE_EVERY_S = 1.0


class PermanentError(Exception):
    """The command cannot succeed however often it is retried; the message is for people."""

    code: FailureCode = "invalid_input"


class JobCancelledError(Exception):
    pass


class OverBudgetError(PermanentError):
    """The job needs more than its limits allow; the message says which and how much."""

    code: FailureCode = "over_budget"


# Errors that say the same input will fail the same way again: bugs and inputs that break a
# library's assumptions, not a service that is briefly away. They fail the job at once.
DETERMINISTIC: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    ArithmeticError,
    LookupError,
    AssertionError,
    NotImplementedError,
    RecursionError,
)


def _seconds(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _transient_cause(error: Exception) -> str:
    """What kept failing, in words that hold no paths or library text."""
    if isinstance(error, TimeoutError | ConnectionError):
        return "a service it needs (storage, database or the bus) kept failing to answer"
    if isinstance(error, MemoryError):
        return "the worker ran out of memory"
    if isinstance(error, OSError):
        return "storage kept failing"
    return "an internal error kept recurring"


class JobRun:
    """One attempt at one command.

    While open it heartbeats the message (`in_progress`) so JetStream never redelivers a
    healthy long job, and publishes progress at most every `progress_interval_s`.
    `report()` may be called from a worker thread; it raises `JobCancelledError` once the
    job is cancelled, which stops the work at its next chunk.
    """

    def __init__(
        self,
        *,
        bus: Bus,
        msg: Msg | None,
        command: Event,
        stage: str,
        cancellations: Cancellations,
        heartbeat_s: float,
        stall_timeout_s: float = 600.0,
        progress_interval_s: float = 0.25,
        draining: Draining | None = None,
    ) -> None:
        self.bus = bus
        self.msg = msg
        self.command = command
        self.stage = stage
        self.cancellations = cancellations
        self.heartbeat_s = heartbeat_s
        self.stall_timeout_s = stall_timeout_s
        self.progress_interval_s = progress_interval_s
        # Set when the worker stops and this run may go back to JetStream (not its last
        # delivery): its wait for a turn and its checkpoints then hand it back.
        self.draining = draining
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self.created = time.monotonic()
        # The first progress event waits one interval: jobs shorter than that publish none.
        self._last_sent = time.monotonic()
        self._pending: tuple[float, str | None] | None = None
        self._wake = asyncio.Event()
        # The helpers start only when needed: most jobs end before their first heartbeat
        # and report no progress worth sending, and two tasks per job cost the event loop
        # more than such a job's own bookkeeping (docs/benchmarks.md, "Where the time goes").
        self._beat: asyncio.TimerHandle | None = None
        self._beating: asyncio.Task[None] | None = None
        self._progress: asyncio.Task[None] | None = None
        self._last_progress = -1.0
        self._last_report = time.monotonic()
        self._closing = False
        # CPU time allowed to the threads that report progress (None: no limit), and per
        # thread (its id → its CPU clock when first seen, and when last seen).
        self._cpu_limit: float | None = None
        self._cpu_what = ""
        self._cpu: dict[int, tuple[float, float]] = {}

    async def __aenter__(self) -> Self:
        if self.msg is not None:
            self._beat = self._loop.call_later(self.heartbeat_s, self._heartbeat)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Stop the helpers cooperatively. Cancelling a task that is awaiting a PubAck is not
        # reliable on Python 3.11: asyncio.wait_for (inside nats-py's request) can swallow
        # the cancellation when the reply arrives at the same moment, and the task runs on.
        self._closing = True
        self._wake.set()
        if self._beat is not None:
            self._beat.cancel()
        if self._beating is not None:
            self._beating.cancel()  # a core publish: safe to cancel
        helpers = [task for task in (self._beating, self._progress) if task is not None]
        if not helpers:
            return
        _, late = await asyncio.wait(helpers, timeout=5.0)
        for task in late:
            task.cancel()

    @property
    def cancelled(self) -> bool:
        return self.cancellations.is_cancelled(self.command.job_id)

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise JobCancelledError(str(self.command.job_id))

    def limit_cpu(self, seconds: float | None, what: str) -> None:
        """From now on, stop the job (OverBudgetError) once the threads that report progress
        or call `checkpoint` have used `seconds` of CPU time; `what` says what it was for,
        e.g. "180 s of audio"."""
        self._cpu_limit, self._cpu_what = seconds, what

    def checkpoint(self) -> None:
        """Raise if the job was cancelled, ran past its CPU time, or must go back because the
        worker is stopping; call it from the work's thread often (between blocks, between
        the stages of a long chain)."""
        self.check_cancelled()
        if self.draining is not None:
            self.draining.check_not_abandoned()
        if self._cpu_limit is None:
            return
        now = time.thread_time()
        ident = threading.get_ident()
        with self._lock:
            first, _ = self._cpu.get(ident, (now, now))
            self._cpu[ident] = (first, now)
            used = sum(last - first for first, last in self._cpu.values())
        if used > self._cpu_limit:
            raise OverBudgetError(
                f"the job used more than its {_seconds(self._cpu_limit)} s of CPU time "
                f"({self._cpu_what}) and was stopped"
            )

    def at_work(self) -> None:
        """The work begins (its turn came): the first progress event waits one interval from
        now, so a short job that had to wait for its turn publishes none either."""
        self._last_sent = time.monotonic()

    def keep_alive(self) -> None:
        """Waiting (for a turn, for a lock) is not stalling: keep heartbeating."""
        self._last_report = time.monotonic()

    def report(self, fraction: float, message: str | None = None) -> None:
        """Record progress in [0, 1]; thread-safe and cheap enough to call per chunk."""
        self.checkpoint()
        fraction = min(max(fraction, 0.0), 1.0)
        now = time.monotonic()
        self._last_report = now
        with self._lock:
            self._pending = (fraction, message)
            due = now - self._last_sent >= self.progress_interval_s
            if due:
                self._last_sent = now
        if due:
            self._loop.call_soon_threadsafe(self._progress_due)

    def _progress_due(self) -> None:
        if self._closing:
            return
        if self._progress is None:
            self._progress = asyncio.create_task(self._publish_progress(), name="progress")
        self._wake.set()

    async def _publish_progress(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await self._flush()

    async def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        fraction, message = pending
        if fraction <= self._last_progress:
            return
        self._last_progress = fraction
        # The id depends on the value, so a redelivered run repeats the same ids.
        event = JobProgress.caused_by(
            self.command,
            step=f"{self.stage}/{round(fraction * 1000)}",
            stage=self.stage,
            progress=fraction,
            message=message,
        )
        try:
            await self.bus.publish(event)
        except Exception:  # progress is best effort; the work must go on
            log.warning("could not publish progress", exc_info=True)

    def _heartbeat(self) -> None:
        """Keep the message ours while the work reports progress (every `heartbeat_s`); a
        stalled job stops heartbeating so JetStream redelivers it (to this or another
        worker)."""
        if self._closing:
            return
        if time.monotonic() - self._last_report > self.stall_timeout_s:
            log.error(
                "no progress for %.0fs: releasing the message for redelivery",
                self.stall_timeout_s,
            )
            return
        self._beating = asyncio.create_task(self._send_heartbeat(), name="heartbeat")

    async def _send_heartbeat(self) -> None:
        assert self.msg is not None
        try:
            await self.msg.in_progress()
        except Exception:
            log.warning("heartbeat failed", exc_info=True)
        if not self._closing:
            self._beat = self._loop.call_later(self.heartbeat_s, self._heartbeat)


def _next_step(command: Event, fact: Event) -> Event | None:
    """The next command of the routing slip; a slip that cannot go on is bad input."""
    if not isinstance(command, PipelineCommand) or not command.slip:
        return None
    if not isinstance(fact, StageCompleted):
        raise TypeError(f"a pipeline step must end in a completed fact, not {fact.subject}")
    try:
        return next_command(command, fact)
    except PipelineError as e:
        raise PermanentError(f"the pipeline cannot go on after {command.stage}: {e}") from e


@contextlib.asynccontextmanager
async def _turn(fair: FairSlots | None, owner: str, run: JobRun) -> AsyncIterator[None]:
    """Hold one of the process's job slots, shared fairly between accounts."""
    if fair is None:
        run.at_work()
        yield
        return
    if fair.free_for(owner):  # its turn now: no task and no timer to wait with
        async with fair.slot(owner, refuse_when_busy=False):
            worker_metrics().waited.labels(run.stage).observe(time.monotonic() - run.created)
            run.at_work()
            yield
        return
    async with contextlib.AsyncExitStack() as stack:
        entering = asyncio.ensure_future(
            stack.enter_async_context(fair.slot(owner, refuse_when_busy=False))
        )
        try:
            while not (await asyncio.wait({entering}, timeout=TURN_POLL_S))[0]:
                run.keep_alive()
                run.check_cancelled()
                if run.draining is not None:
                    run.draining.check_not_started()
        except BaseException:
            entering.cancel()
            with contextlib.suppress(BaseException):
                await entering
            raise
        entering.result()
        if run.draining is not None:  # its turn came as the worker began to stop
            run.draining.check_not_started()
        worker_metrics().waited.labels(run.stage).observe(time.monotonic() - run.created)
        run.at_work()
        yield


def _attempts(msg: Msg | None) -> int:
    try:
        return int(msg.metadata.num_delivered) if msg else 1
    except Exception:  # not a JetStream message
        return 1


async def handle_command(
    *,
    command: Event,
    msg: Msg | None,
    stage: str,
    failed: type[StageFailed],
    bus: Bus,
    cancellations: Cancellations,
    settings: WorkerSettings,
    work: Callable[[JobRun], Awaitable[Event]],
    fair: FairSlots | None = None,
    draining: Draining | None = None,
) -> str:
    """Run `work` under the error policy above and publish the fact it returns.

    A pipeline step (a command with a routing slip) then publishes the next step's
    command, built from the fact's outputs; the fact says the job goes on.
    Progress not yet published is dropped: the fact that follows says more. With `fair`,
    the work waits for its turn among the accounts whose commands this process holds
    (heartbeating meanwhile; a job cancelled while waiting never starts). With `draining`,
    a stopping worker hands the command back (nak, no delay) if it has not started, or if
    its grace ran out at a checkpoint; never on its last delivery. Returns the
    outcome, for metrics and tests. `stage` labels metrics; progress and facts carry the
    command's own stage name when it has one (pipelines name their stages).

    `cadenza_jobs_total` counts each command once: an attempt that will be retried counts in
    `cadenza_job_retries_total` instead, and a redelivered command whose fact JetStream
    already holds (its PubAck says duplicate) was counted by the delivery that stored it.
    """
    metrics = worker_metrics()
    attempts = _attempts(msg)
    metric_stage = stage
    if isinstance(command, PipelineCommand):
        stage = command.stage

    async def fail(code: FailureCode, reason: str) -> bool:
        """Publish the failure; False when JetStream already had it (counted before)."""
        ack = await bus.publish(
            failed.caused_by(command, stage=stage, code=code, reason=reason, attempts=attempts)
        )
        if ack.duplicate:
            return False
        metrics.failures.labels(metric_stage, code).inc()
        return True

    with job_context(
        job_id=command.job_id,
        correlation_id=command.correlation_id,
        event_id=command.event_id,
        stage=stage,
        attempt=attempts,
    ):
        if cancellations.is_cancelled(command.job_id):
            log.info("skipping cancelled job")
            metrics.jobs.labels(metric_stage, "cancelled").inc()
            return "cancelled"
        # On its last delivery a command is kept: handed back, it would not come back.
        may_hand_back = draining if attempts < settings.max_deliver else None
        if may_hand_back is not None and may_hand_back.started:
            log.info("handed back: the worker is stopping")
            raise NakError(0.0)
        started = time.monotonic()
        log.info("started (delivery %d of at most %d)", attempts, settings.max_deliver)
        try:
            async with JobRun(
                bus=bus,
                msg=msg,
                command=command,
                stage=stage,
                cancellations=cancellations,
                heartbeat_s=max(settings.ack_wait_s / 3, 0.5),
                stall_timeout_s=settings.stall_timeout_s,
                draining=may_hand_back,
            ) as run:
                async with _turn(fair, command.owner, run):
                    fact = await work(run)
                following = _next_step(command, fact)
            run.check_cancelled()
            if following is not None:
                assert isinstance(fact, StageCompleted)
                fact = fact.model_copy(update={"job_finished": False})
            first = not (await bus.publish(fact)).duplicate
            if following is not None:
                await bus.publish(following)
        except JobCancelledError:
            log.info("job cancelled while running; stopped")
            outcome, first = "cancelled", True
        except HandedBackError as handed_back:
            log.info("handed back: %s", handed_back)
            raise NakError(0.0) from handed_back
        except PermanentError as error:
            log.info("job failed permanently: %s", error)
            first = await fail(error.code, str(error))
            outcome = "failed"
        except DETERMINISTIC:
            # The same input would fail the same way: retrying only delays the answer. The
            # exception's text stays in the log (it may hold paths or library internals).
            log.exception("job failed with an internal error; not retried")
            first = await fail(
                "internal",
                f"the {stage} stage could not process this input (an internal error, not "
                f"retried); quote reference {command.event_id} when reporting it",
            )
            outcome = "failed"
        except Exception as error:
            if attempts >= settings.max_deliver:
                log.exception("giving up after %d attempts", attempts)
                first = await fail(
                    "gave_up",
                    f"gave up after {attempts} attempts: {_transient_cause(error)}; quote "
                    f"reference {command.event_id} when reporting it",
                )
                outcome = "failed"
            else:
                backoff = settings.retry_backoff_s
                delay = backoff[min(attempts - 1, len(backoff) - 1)] if backoff else 0.0
                log.warning(
                    "attempt %d failed, retrying in %.1fs: %s",
                    attempts,
                    delay,
                    error,
                    exc_info=True,
                )
                metrics.retries.labels(metric_stage).inc()
                raise NakError(delay) from error
        else:
            outcome = "completed"
        if first:
            metrics.jobs.labels(metric_stage, outcome).inc()
        metrics.job_seconds.labels(metric_stage).observe(time.monotonic() - started)
        # What the job's buffers held goes back to the system: once nothing else has been at
        # work for a moment, else at most every RELEASE_EVERY_S (cadenza.runtime.heap).
        if fair is None:
            release_free_memory()
        elif fair.held == 0 and fair.waiting == 0:
            release_when_idle(lambda: fair.held == 0 and fair.waiting == 0)
        else:
            release_free_memory(RELEASE_EVERY_S)
        return outcome
