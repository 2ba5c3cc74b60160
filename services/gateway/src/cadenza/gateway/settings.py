"""Gateway settings, from environment variables (README.md lists them)."""

from __future__ import annotations

from pydantic import Field

from cadenza.runtime.settings import BusSettings, StorageSettings

GIB = 1 << 30


class Settings(BusSettings, StorageSettings):
    # Required: a PostgreSQL DSN, e.g. postgresql://user:pass@host:5432/cadenza
    database_url: str
    database_pool_size: int = Field(10, ge=1, le=200)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_upload_bytes: int = Field(2 * GIB, ge=1)
    # The principal every request acts as until authentication is built.
    default_owner: str = "local"
    # How long a late WebSocket subscriber can still see events the projection has not stored.
    live_cache_jobs: int = Field(10_000, ge=100)
