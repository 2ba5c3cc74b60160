"""/health/ready answers 200 only when NATS, PostgreSQL and storage answer, and otherwise
503 naming what is down (the gateway in-process, against real servers)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx

from cadenza.devstack.nats import NatsServer
from cadenza.devstack.postgres import Postgres
from cadenza.gateway.app import create_app
from cadenza.gateway.settings import Settings


async def test_readiness_names_what_is_down(
    fresh_nats: NatsServer, fresh_database: str, tmp_path: Path
) -> None:
    store = tmp_path / "artifacts"
    app = create_app(
        Settings(database_url=fresh_database, nats_url=fresh_nats.url, storage_dir=store)
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as api,
    ):
        ready = await api.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"

        shutil.rmtree(store)
        down = await api.get("/health/ready")
        assert down.status_code == 503
        assert set(down.json()["problems"]) == {"storage"}
        assert "storage" in down.json()["detail"]
        store.mkdir()

        fresh_nats.stop()
        for _ in range(50):  # the client notices the lost connection within moments
            down = await api.get("/health/ready")
            if down.status_code == 503:
                break
            await asyncio.sleep(0.1)
        assert down.status_code == 503
        assert set(down.json()["problems"]) == {"nats"}
        # Where NATS is, without the services' password.
        assert f"NATS at {fresh_nats.tap_url} does not answer" in down.json()["detail"]
        assert fresh_nats.password not in down.text
        assert (await api.get("/health")).status_code == 200, "liveness is unaffected"


async def test_a_database_outage_is_a_503_with_a_reason(
    fresh_nats: NatsServer, tmp_path: Path
) -> None:
    postgres = Postgres(tmp_path / "pg")
    await asyncio.to_thread(postgres.start)
    app = create_app(
        Settings(
            database_url=postgres.dsn,
            nats_url=fresh_nats.url,
            storage_dir=tmp_path / "s",
            auth_mode="dev",
        )
    )
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as api,
        ):
            assert (await api.get("/api/v1/jobs")).status_code == 200
            await asyncio.to_thread(postgres.stop)
            listing = await api.get("/api/v1/jobs")
            assert listing.status_code == 503
            assert listing.json()["detail"].startswith("the database is unavailable")
            ready = await api.get("/health/ready")
            assert ready.status_code == 503
            assert set(ready.json()["problems"]) == {"postgres"}
    finally:
        await asyncio.to_thread(postgres.stop)
