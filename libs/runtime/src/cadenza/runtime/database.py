"""PostgreSQL for the services that own tables: the pool and versioned migrations.

Each service keeps its migrations as `NNNN_name.sql` files in a package of its own and its
own bookkeeping table, so services that share a database never step on each other's
versions. Migrations run on start and by command; an advisory lock makes concurrent
replicas apply them once.
"""

from __future__ import annotations

import json
import logging
import zlib
from importlib import resources
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


class DatabaseUnavailableError(ConnectionError):
    """PostgreSQL cannot be reached; callers answer 503 or retry instead of crashing."""


async def _connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, **kwargs)
    except (OSError, asyncpg.CannotConnectNowError) as e:
        raise DatabaseUnavailableError(f"cannot connect to PostgreSQL: {e}") from e


async def create_pool(
    dsn: str, size: int = 10, *, init: Any = None, command_timeout: float = 30
) -> asyncpg.Pool:
    """A pool whose connections decode json/jsonb, plus whatever `init` adds."""

    async def setup(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if init is not None:
            await init(conn)

    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=setup,
        command_timeout=command_timeout,
        connect=_connect,
    )
    assert pool is not None
    return pool


def available_migrations(package: str) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every `NNNN_*.sql` in `package`, in order."""
    found = []
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(
    conn_or_pool: asyncpg.Pool | asyncpg.Connection,
    package: str,
    *,
    table: str = "schema_migrations",
) -> list[str]:
    """Apply `package`'s migrations not yet recorded in `table`, each in its own
    transaction; returns the names applied."""
    lock = zlib.crc32(f"{package}:{table}".encode())
    if isinstance(conn_or_pool, asyncpg.Pool):
        async with conn_or_pool.acquire() as conn:
            return await _migrate(conn, package, table, lock)
    return await _migrate(conn_or_pool, package, table, lock)


async def _migrate(conn: asyncpg.Connection, package: str, table: str, lock: int) -> list[str]:
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", lock)
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch(f"SELECT version FROM {table}")}
        for version, name, sql in available_migrations(package):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    f"INSERT INTO {table} (version, name) VALUES ($1, $2)", version, name
                )
            log.info("applied migration %s", name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock)
    return applied
