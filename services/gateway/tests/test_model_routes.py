"""`GET /api/v1/models` lists what workers run and what they can fetch; `POST
/api/v1/models/{name}/pull` is for admins, refuses unknown names with the known ones, and
puts the pull command on the bus as a job. Real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cadenza.contracts.model_catalog import KNOWN_MODELS, KnownModel, ModelPullRequested
from cadenza.contracts.separation import ModelInfo
from cadenza.devstack.model_server import blob_entry
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.gateway.settings import Settings
from cadenza.runtime.model_catalog import CatalogRegistry
from cadenza.runtime.model_registry import ModelRegistry

from .conftest import bearer, running_gateway, settings, sign_up


@pytest.fixture
def config(fresh_database: str, fresh_nats: NatsServer, tmp_path: Path) -> Settings:
    return settings(fresh_database, fresh_nats.url, tmp_path / "artifacts")


async def make_admin(config: Settings, email: str) -> None:
    conn = await asyncpg.connect(config.database_url)
    try:
        await conn.execute("UPDATE users SET role = 'admin' WHERE email = $1", email)
    finally:
        await conn.close()


async def test_the_list_has_the_pullable_models_with_licence_sdr_and_availability(
    config: Settings,
) -> None:
    async with running_gateway(config) as (services, api):
        user = bearer((await sign_up(api, "reader@example.com"))["access_token"])
        listed = (await api.get("/api/v1/models", headers=user)).json()
        assert [m["name"] for m in listed["models"]] == ["classical"]
        pullable = {m["name"]: m for m in listed["pullable"]}
        assert set(pullable) == set(KNOWN_MODELS)
        ft = pullable["htdemucs_ft"]
        assert ft["size"] == 4 * 84141271 and ft["available"] is False
        assert ft["licence"].startswith("Not MIT") and "issues/327" in ft["licence_source"]
        assert ft["published_sdr"][0] == {
            "average_db": 9.0,
            "stems_db": {},
            "dataset": "MUSDB18-HQ test set (demucs's accuracy table: HT Demucs f.t.)",
            "source": KNOWN_MODELS["htdemucs_ft"].published_sdr[0].source,
        }
        assert pullable["mel_band_roformer_vocals"]["stems"] == ["vocals", "instrumental"]

        # A worker that runs htdemucs_ft and can pull a private model.
        js = services.broker.connection.jetstream()
        info = ModelInfo(name="htdemucs_ft", family="demucs", stems=("drums",), sample_rate=44100)
        await ModelRegistry(js).advertise([info])
        private, _ = blob_entry("http://models.internal", name="private_vocals")
        await CatalogRegistry(js).advertise([KnownModel.model_validate(private)])
        await asyncio.sleep(2.1)  # the gateway's registries cache for 2 s
        listed = (await api.get("/api/v1/models", headers=user)).json()
        pullable = {m["name"]: m for m in listed["pullable"]}
        assert pullable["htdemucs_ft"]["available"] is True
        assert pullable["private_vocals"]["files"][0]["url"].startswith("http://models.internal")


async def test_only_admins_pull_and_an_unknown_name_lists_the_known_ones(
    config: Settings,
) -> None:
    async with running_gateway(config) as (services, api):
        producer = bearer((await sign_up(api, "producer@example.com"))["access_token"])
        refused = await api.post("/api/v1/models/htdemucs/pull", headers=producer)
        assert refused.status_code == 403
        assert "admin" in refused.json()["detail"]

        admin_pair = await sign_up(api, "boss@example.com")
        await make_admin(config, "boss@example.com")
        admin = bearer(admin_pair["access_token"])
        unknown = await api.post("/api/v1/models/htdemucs_9000/pull", headers=admin)
        assert unknown.status_code == 422
        detail = unknown.json()["detail"]
        assert "no known model 'htdemucs_9000'" in detail
        assert all(name in detail for name in KNOWN_MODELS)
        too_long = await api.post(f"/api/v1/models/{'x' * 300}/pull", headers=admin)
        assert too_long.status_code == 422

        accepted = await api.post("/api/v1/models/bs_roformer_vocals/pull", headers=admin)
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()
        assert job["kind"] == "model_pull" and job["status"] == "queued"
        assert job["params"] == {"model": "bs_roformer_vocals"}
        assert [s["name"] for s in job["stages"]] == ["model_pull"]
        js = services.broker.connection.jetstream()
        commands = [
            ModelPullRequested.model_validate_json(m.data)
            for m in await stream_messages(js, ModelPullRequested.subject)
        ]
        assert [(str(c.job_id), c.model, c.owner) for c in commands] == [
            (job["id"], "bs_roformer_vocals", admin_pair["user"]["id"])
        ]
        mine = await api.get(f"/api/v1/jobs/{job['id']}", headers=admin)
        assert mine.status_code == 200 and mine.json()["kind"] == "model_pull"
