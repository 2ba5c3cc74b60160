"""`cadenza-gateway` (serve the API), `cadenza-gateway migrate` (apply migrations),
`cadenza-gateway openapi` and `cadenza-gateway asyncapi` (print the OpenAPI document of the
API and the AsyncAPI document of the events; `make docs` writes them to docs/), and
`cadenza-gateway client-vocabulary` (prints the Python client's generated vocabulary.py;
`make generate` writes it)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import uvicorn

from cadenza.gateway.app import create_app
from cadenza.gateway.client_vocabulary import client_vocabulary
from cadenza.gateway.connection_guard import ConnectionLimits, guarded_protocol
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.settings import Settings
from cadenza.runtime.asyncapi import asyncapi_document
from cadenza.runtime.heap import freeze_startup_heap


async def _migrate(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, 1)
    try:
        applied = await migrate(pool)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    finally:
        await pool.close()


def openapi_document() -> str:
    """The API's OpenAPI document, built without connecting to anything."""
    # Cadenza's own API, whatever the environment: the seeds' routes are docs/compat.md's.
    app = create_app(
        Settings(database_url="postgresql://unused", log_format="text", compat_routes=False)
    )
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="cadenza-gateway")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "openapi", "asyncapi", "client-vocabulary"],
    )
    args = parser.parse_args()
    if args.command == "openapi":
        sys.stdout.write(openapi_document())
        return
    if args.command == "asyncapi":
        sys.stdout.write(asyncapi_document())
        return
    if args.command == "client-vocabulary":
        sys.stdout.write(client_vocabulary())
        return
    settings = Settings()  # DATABASE_URL comes from the environment
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return
    app = create_app(settings)
    guard = ConnectionLimits(
        max_per_address=settings.max_connections_per_address,
        header_timeout_s=settings.header_timeout_s,
        max_header_bytes=settings.max_header_bytes,
        trusted_proxies=settings.trusted_proxies,
    )
    freeze_startup_heap()  # what the imports made; see cadenza.runtime.heap
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        http=guarded_protocol(guard),
        limit_concurrency=settings.max_connections,
        ws_max_size=64 * 1024,
        # X-Forwarded-For is read by the app, only from TRUSTED_PROXIES (uvicorn's default
        # would believe it from 127.0.0.1, i.e. from anyone on the same host).
        proxy_headers=False,
        # No permessage-deflate, though browsers offer it: live audio does not compress, and
        # deflating it doubled the CPU per block on both ends (docs/benchmarks.md); the job
        # feed's small JSON messages gain little, and each compressed connection would keep
        # zlib state in memory.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
