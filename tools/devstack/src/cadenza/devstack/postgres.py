"""PostgreSQL with pgvector from the `pgserver` wheel, listening on a Unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg

with warnings.catch_warnings():
    # platformdirs warns, at import, when XDG_RUNTIME_DIR is unset (pgserver asks it for a path).
    warnings.simplefilter("ignore", UserWarning)
    import pgserver

from cadenza.devstack.children import ServiceFailedError, tail_of_file

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def forget_dead_handles(data_dir: Path) -> None:
    """pgserver stops the server when the last process that used it exits, counting them in
    `.handle_pids.json`; a process that was killed (SIGKILL, a crash) stays on that list for
    ever, and then no later exit stops the server. Drop the ones no longer running."""
    handles = data_dir / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError):
        pids = json.loads(handles.read_text())
        alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


@dataclass
class Postgres:
    data_dir: Path
    server: Any = field(default=None, repr=False)
    dsn: str = ""

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(self.data_dir)
        try:
            # cleanup_mode="stop": the server stops when this process exits.
            self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
            admin = self.server.get_uri()
            asyncio.run(_ensure_database(admin, DATABASE))
        except Exception as e:
            reason = f"{type(e).__name__}: {e}".rstrip(": ")
            raise ServiceFailedError(
                "PostgreSQL", reason, tail_of_file(self.data_dir / "log")
            ) from e
        self.dsn = self.server.get_uri(DATABASE)

    @property
    def socket_dir(self) -> str:
        return parse_qs(urlparse(self.dsn).query)["host"][0]

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None
