"""The gateway in this process, against real NATS and PostgreSQL, for tests of its HTTP edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from cadenza.gateway.app import create_app
from cadenza.gateway.services import Services
from cadenza.gateway.settings import Settings

SECRET = "test-secret-" + "x" * 40


def settings(database_url: str, nats_url: str, storage: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "nats_url": nats_url,
        "storage_dir": storage,
        "jwt_secret": SECRET,
        "log_format": "text",
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_gateway(
    config: Settings,
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The started gateway's services (pool, bus, projection, job feed…) and a client of its API."""
    app = create_app(config)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as api,
    ):
        yield app.state.services, api


@asynccontextmanager
async def gateway(config: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_gateway(config) as (_, api):
        yield api


async def sign_up(
    api: httpx.AsyncClient, email: str, password: str = "correct horse battery"
) -> dict[str, Any]:
    """Register and sign in; returns the token pair (with `user`)."""
    created = await api.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    pair = await api.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert pair.status_code == 200, pair.text
    body: dict[str, Any] = pair.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
