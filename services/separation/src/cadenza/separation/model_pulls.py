"""Model pulls on the bus: `separation.pull.requested` in, the model's files fetched into
MODEL_DIR (`model_fetch`), the worker's models rescanned and advertised,
`separation.pull.completed` out. The worker also advertises what it can pull, so the
gateway lists and accepts exactly that.

A broken transfer is resumed a few times within one delivery (the `.part` file keeps what
arrived); a pull that cannot succeed (a checksum that does not match, a read-only model
directory, an unknown name) fails its job with the sentence `model_fetch` wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING

from cadenza.contracts.consumers import MODEL_PULL_CONSUMER
from cadenza.contracts.model_catalog import KnownModel, ModelPullCompleted, ModelPullRequested
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.model_catalog import CatalogRegistry
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.worker import JobRun, PermanentError
from cadenza.separation.known_models import load_catalog, unknown_model
from cadenza.separation.model_fetch import PullError, PullInterruptedError, pull
from cadenza.separation.settings import Settings

if TYPE_CHECKING:
    from cadenza.separation.app import Separation

log = logging.getLogger(__name__)

ADVERTISE_EVERY_S = 60.0
# Waits before resuming a broken transfer within one delivery.
RESUME_AFTER_S = (2.0, 10.0)
MB = 1_000_000


async def run_pull(
    separation: Separation,
    catalog: dict[str, KnownModel],
    cmd: ModelPullRequested,
    run: JobRun,
) -> ModelPullCompleted:
    model = catalog.get(cmd.model)
    if model is None:
        raise PermanentError(unknown_model(cmd.model, catalog))
    settings = separation.settings

    def progress(done: int, total: int) -> None:
        run.report(done / total, f"{done / MB:,.1f} of {total / MB:,.1f} MB")

    def waiting(_: str) -> None:  # another pull holds the file: wait, heartbeating
        run.keep_alive()
        run.check_cancelled()

    fetch = partial(
        pull,
        model,
        settings.model_dir,
        mirror=settings.model_mirror_url,
        progress=progress,
        waiting=waiting,
    )
    for attempt, pause in enumerate((*RESUME_AFTER_S, None), start=1):
        try:
            files = await asyncio.to_thread(fetch)
            break
        except PullInterruptedError as e:
            if pause is None:
                raise PermanentError(f"{e} (tried {attempt} times)") from e
            log.warning("pull of %s broke off (attempt %d), resuming: %s", model.name, attempt, e)
            await asyncio.sleep(pause)
        except PullError as e:
            raise PermanentError(str(e)) from e
    models = await asyncio.to_thread(separation.book.refresh)
    if separation.registry is not None:
        await separation.registry.advertise(list(models.values()))
    log.info(
        "pulled %s (%s)",
        model.name,
        ", ".join(f"{f.name} sha256 {f.sha256}" for f in files),
    )
    return ModelPullCompleted.caused_by(
        cmd,
        stage=cmd.stage,
        outputs={},
        details={
            "model": model.name,
            "available": model.name in models,
            "fetched_bytes": sum(f.fetched for f in files),
            "files": [asdict(f) for f in files],
        },
    )


def install_model_pulls(runtime: WorkerRuntime, separation: Separation) -> None:
    """Subscribe to pull commands and advertise this worker's catalog while it runs."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    catalog = load_catalog(settings.model_catalog_file)
    tasks: list[asyncio.Task[None]] = []

    async def advertise_forever(registry: CatalogRegistry) -> None:
        while True:
            await asyncio.sleep(ADVERTISE_EVERY_S)
            try:
                await registry.advertise(list(catalog.values()))
            except Exception:
                log.warning("could not advertise the models this worker can pull", exc_info=True)

    async def start() -> None:
        registry = CatalogRegistry(runtime.broker.connection.jetstream())
        await registry.advertise(list(catalog.values()))
        tasks.append(asyncio.create_task(advertise_forever(registry)))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    runtime.startup_hooks.append(start)
    runtime.shutdown_hooks.append(stop)
    subscribe_consumer(runtime, MODEL_PULL_CONSUMER, partial(run_pull, separation, catalog))
