"""The whole platform, as real processes, for end-to-end tests through the public API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from cadenza.devstack.demucs_models import install_test_models
from cadenza.devstack.platform import Platform, Service
from cadenza.devstack.ports import free_port
from cadenza.devstack.roformer_models import install_test_roformers

MAX_UPLOAD_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("platform")
    install_test_models(root / "data" / "models")  # random weights, demucs's format
    install_test_roformers(root / "data" / "models")  # random weights, the published format
    with Platform(
        root / "data",
        gateway_port=free_port(),
        log_dir=root / "logs",
        extra_env={
            "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            "MAX_AUDIO_SECONDS": "3600",
            "LOG_LEVEL": "INFO",
            # Webhook tests deliver to a receiver on loopback, and retry it quickly.
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_RETRY_BASE_S": "0.5",
        },
    ) as running:
        yield running


@contextmanager
def second_gateway(platform: Platform, name: str, env: Mapping[str, str]) -> Iterator[str]:
    """Another gateway on the platform's bus and database, with `env` over its settings;
    its URL."""
    port = free_port()
    log_file = platform.log_dir / f"{name}.log" if platform.log_dir else None
    service = Service(
        name, "cadenza.gateway", port, {**platform.base_env(), "PORT": str(port), **env}, log_file
    )
    service.start()
    try:
        service.wait_ready(90)
        yield f"http://127.0.0.1:{port}"
    finally:
        service.stop()


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, timeout=60) as client:
        yield client


@pytest.fixture
def ws_url(platform: Platform) -> str:
    return platform.url.replace("http://", "ws://") + "/api/v1/ws"


def upload(api: httpx.Client, path: Path, name: str | None = None) -> httpx.Response:
    with path.open("rb") as f:
        return api.post("/api/v1/uploads", files={"file": (name or path.name, f)})


JOB_ENDINGS = ("job.completed", "job.failed", "job.cancelled", "error")


async def follow(
    ws_url: str, job_id: str, timeout_s: float = 60, until: tuple[str, ...] = JOB_ENDINGS
) -> list[dict[str, Any]]:
    """Subscribe and collect events until one of type `until` (the job's end) arrives."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "job_id": job_id}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                received = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            events.append(json.loads(received))
            if events[-1]["type"] in until:
                return events
    raise AssertionError(f"job {job_id} did not finish in {timeout_s}s: {events}")


def wait_for_status(api: httpx.Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s}s")


def download(api: httpx.Client, artifact: dict[str, Any], path: Path) -> Path:
    """Fetch a job's artifact (checking its digest) to `path`."""
    response = api.get(artifact["url"])
    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == artifact["sha256"]
    path.write_bytes(response.content)
    return path
