"""PostgreSQL with pgvector from the `pgserver` wheel, listening on a Unix socket."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
import pgserver

DATABASE = "cadenza"

# pgserver logs its bookkeeping at INFO, some of it from an atexit hook after logging has shut
# down; warnings and errors still come through.
logging.getLogger("pgserver").setLevel(logging.WARNING)


async def _ensure_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass
class Postgres:
    data_dir: Path
    server: Any = field(default=None, repr=False)
    dsn: str = ""

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode="stop": the server stops when this process exits.
        self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        admin = self.server.get_uri()
        asyncio.run(_ensure_database(admin, DATABASE))
        self.dsn = self.server.get_uri(DATABASE)

    @property
    def socket_dir(self) -> str:
        return parse_qs(urlparse(self.dsn).query)["host"][0]

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None
