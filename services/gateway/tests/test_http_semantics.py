"""HTTP semantics the API's users' tools rely on: a 405 lists every method the path takes."""

from __future__ import annotations

import uuid
from pathlib import Path

from cadenza.devstack.nats import NatsServer

from .conftest import gateway, settings


async def test_a_405_allows_every_method_the_path_takes(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with gateway(config) as api:
        job = f"/api/v1/jobs/{uuid.uuid4()}"
        for method, path, allowed in (
            ("PUT", "/api/v1/jobs", "GET, POST"),
            ("PATCH", job, "DELETE, GET"),
            ("PUT", f"{job}/pin", "DELETE, POST"),
            ("GET", f"{job}/cancel", "POST"),
            ("POST", f"{job}/artifacts/mix.wav", "GET, HEAD"),
        ):
            response = await api.request(method, path)
            assert response.status_code == 405, (method, path, response.text)
            assert response.headers["allow"] == allowed, (method, path)
            assert response.headers["content-type"] == "application/problem+json"
            assert f"it takes {allowed}" in response.json()["detail"]
