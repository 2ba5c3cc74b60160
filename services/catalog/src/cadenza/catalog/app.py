"""The catalog worker: ingestion commands from JetStream, queries over request/reply."""

from __future__ import annotations

import logging
from functools import partial

from cadenza.catalog import repository
from cadenza.catalog.ingest import Catalog, run_ingest
from cadenza.catalog.queries import QUERIES, handler_for
from cadenza.catalog.settings import Settings
from cadenza.contracts.consumers import CATALOG_INGEST_CONSUMER
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.requests import Responder
from cadenza.runtime.service import WorkerRuntime

log = logging.getLogger(__name__)

QUERY_QUEUE = "catalog"


def install(runtime: WorkerRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    catalog = Catalog(runtime, settings)
    responder = Responder(settings.query_concurrency)

    async def open_database() -> None:
        catalog.start_sandbox()
        applied = await repository.migrate(settings.database_url)
        if applied:
            log.info("catalog migrations applied: %s", ", ".join(applied))
        catalog.pool = await repository.create_pool(
            settings.database_url, settings.database_pool_size
        )
        connection = runtime.broker.connection
        for kind in QUERIES:
            await responder.serve(
                connection, kind.subject(), QUERY_QUEUE, handler_for(catalog, kind)
            )

    async def close_database() -> None:
        await responder.stop()
        if catalog.pool is not None:
            await catalog.pool.close()
        if catalog.sandbox is not None:
            catalog.sandbox.close()

    async def database_answers() -> None:
        await catalog.db.fetchval("SELECT 1")

    runtime.startup_hooks.append(open_database)
    runtime.shutdown_hooks.append(close_database)
    runtime.readiness_checks["postgres"] = database_answers
    subscribe_consumer(runtime, CATALOG_INGEST_CONSUMER, partial(run_ingest, catalog))
