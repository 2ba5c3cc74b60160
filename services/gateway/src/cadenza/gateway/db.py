"""The gateway's PostgreSQL: its pool and its migrations (run on start and by command)."""

from __future__ import annotations

import asyncpg

from cadenza.runtime import database
from cadenza.runtime.database import DatabaseUnavailableError

__all__ = ["DatabaseUnavailableError", "create_pool", "migrate"]

MIGRATIONS = "cadenza.gateway.migrations"


async def create_pool(dsn: str, size: int = 10) -> asyncpg.Pool:
    return await database.create_pool(dsn, size)


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply the gateway's migrations not yet applied; returns their names."""
    return await database.migrate(pool, MIGRATIONS)
