"""The life of a worker process: connect, declare, consume, serve health and metrics, stop."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import io
import logging
import signal
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import uvicorn

from cadenza.runtime.bus import Bus, ensure_streams, make_broker, nats_answers
from cadenza.runtime.cancellation import Cancellations
from cadenza.runtime.draining import HAND_BACK_S, Draining
from cadenza.runtime.fair import FairSlots
from cadenza.runtime.heap import freeze_startup_heap, return_large_blocks_to_the_system
from cadenza.runtime.logging import configure_logging
from cadenza.runtime.metrics import ops_app, worker_metrics
from cadenza.runtime.pull_consumer import PullConsumer
from cadenza.runtime.settings import WorkerSettings
from cadenza.runtime.storage import ObjectStore, store_from_settings

log = logging.getLogger(__name__)


class WorkerRuntime:
    """Connections a worker holds: broker and bus, object store, cancellation mirror."""

    def __init__(self, settings: WorkerSettings, name: str) -> None:
        self.settings = settings
        self.name = name
        worker_metrics()  # a worker's families, exported from its start
        # On SIGTERM the command at work gets this long to finish before it is handed back
        # (cadenza.runtime.draining); with the hand-back's few seconds it stays well within
        # k8s/'s terminationGracePeriodSeconds (60 s) at the default ACK_WAIT_S.
        self.work_grace_s = max(settings.ack_wait_s, 15.0)
        self.draining = Draining()
        self.broker = make_broker(settings, name=name)
        # The durable command consumers (cadenza.runtime.commands), started by start_consuming.
        self.consumers: list[PullConsumer] = []
        self.bus = Bus(self.broker)
        self.store: ObjectStore = store_from_settings(settings)
        self._cancellations: Cancellations | None = None
        # The process's job slots, shared between accounts (cadenza.runtime.fair).
        self.fair = FairSlots(
            settings.concurrency,
            per_owner=min(settings.per_account_concurrency, settings.concurrency),
            what="jobs",
        )
        # Run once connected (and in reverse on the way out), for services with more to set up.
        self.startup_hooks: list[Callable[[], Awaitable[None]]] = []
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        # Run first when stopping, while NATS is still connected (say goodbye to peers).
        self.draining_hooks: list[Callable[[], Awaitable[None]]] = []
        # More dependencies for /health/ready: name → check that raises when it is down.
        self.readiness_checks: dict[str, Callable[[], Awaitable[None]]] = {}

    @property
    def cancellations(self) -> Cancellations:
        if self._cancellations is None:
            raise RuntimeError("WorkerRuntime used before it was entered")
        return self._cancellations

    async def __aenter__(self) -> Self:
        connection = await self.broker.connect()
        js = connection.jetstream()
        await ensure_streams(js, replicas=self.settings.nats_stream_replicas)
        self._cancellations = Cancellations(js)
        await self._cancellations.start()
        await self.store.start()
        for hook in self.startup_hooks:
            await hook()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Take no more work, hand back what has not started, give the work in hand its grace.
        self.draining.begin()
        abandon = asyncio.get_running_loop().call_later(self.work_grace_s, self.draining.abandon)
        for consumer in self.consumers:
            try:
                await consumer.stop_fetching()
            except Exception:
                log.warning("could not stop fetching", exc_info=True)
        for hook in self.draining_hooks:
            try:
                await hook()
            except Exception:
                log.warning("draining hook failed", exc_info=True)
        # The commands in hand: their grace, then a few seconds to hand themselves back.
        await asyncio.gather(*(c.stop(self.work_grace_s + HAND_BACK_S) for c in self.consumers))
        abandon.cancel()
        try:
            await self.broker.stop()
        except Exception as e:  # NATS already gone: nothing left to drain
            log.warning("could not drain the NATS connection: %s", e)
        for hook in reversed(self.shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.warning("shutdown hook failed", exc_info=True)
        if self._cancellations:
            await self._cancellations.stop()
        await self.store.close()

    async def start_consuming(self) -> None:
        """Start the broker's own subscribers and the command consumers (once entered)."""
        await self.broker.start()
        for consumer in self.consumers:
            await consumer.start(self.broker.connection)

    async def problems(self) -> dict[str, str]:
        """What is down, for /health/ready (empty when ready)."""
        problems: dict[str, str] = {}
        if not await nats_answers(self.broker):
            problems["nats"] = f"cannot reach NATS at {self.settings.nats_where}"
        try:
            await asyncio.wait_for(self.store.ping(), timeout=5.0)
        except Exception as e:
            problems["storage"] = f"object storage does not answer: {e}"
        for name, check in self.readiness_checks.items():
            try:
                await asyncio.wait_for(check(), timeout=5.0)
            except Exception as e:
                problems[name] = f"{name} does not answer: {e}"
        return problems


async def _serve_until_signalled(runtime: WorkerRuntime) -> None:
    settings = runtime.settings
    server = uvicorn.Server(
        uvicorn.Config(
            ops_app(runtime.problems),
            host=settings.http_host,
            port=settings.http_port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve(), name="ops-http")
    await stop.wait()
    log.info("stopping %s", runtime.name)
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await serving


def _dump_tasks() -> None:
    """SIGUSR1: log what every thread and every asyncio task is doing (for hung workers)."""
    faulthandler.dump_traceback(all_threads=True)
    for task in asyncio.all_tasks():
        buffer = io.StringIO()
        task.print_stack(file=buffer)
        log.warning("task %s:\n%s", task.get_name(), buffer.getvalue())


def run_worker(
    settings: WorkerSettings, name: str, install: Callable[[WorkerRuntime], None]
) -> None:
    """Entry point of a worker service; `install` registers its subscribers."""
    configure_logging(name, settings.log_level, settings.log_format)

    async def main() -> None:
        runtime = WorkerRuntime(settings, name)
        install(runtime)
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)
        async with runtime:
            await runtime.start_consuming()
            frozen = freeze_startup_heap()
            return_large_blocks_to_the_system()
            log.info(
                "%s consuming; ops http on %s:%d (%d start-up objects frozen)",
                name,
                settings.http_host,
                settings.http_port,
                frozen,
            )
            await _serve_until_signalled(runtime)

    asyncio.run(main())
