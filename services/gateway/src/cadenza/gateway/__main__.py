"""`cadenza-gateway` (serve the API) and `cadenza-gateway migrate` (apply migrations)."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from cadenza.gateway.app import create_app
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.settings import Settings


async def _migrate(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, 1)
    try:
        applied = await migrate(pool)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="cadenza-gateway")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args()
    settings = Settings()  # DATABASE_URL comes from the environment
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_max_size=64 * 1024,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
