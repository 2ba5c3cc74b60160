"""A poison command: every attempt at it kills its worker (SIGKILL mid-job). After the
consumer's maximum deliveries it goes to the dead-letter stream and its job fails with the
reason; the worker, restarted, goes on serving other jobs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from cadenza.contracts.streams import DEAD_LETTERS
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import write_noise
from cadenza.gateway.replay import stream_messages

pytestmark = pytest.mark.platform

MAX_DELIVER = 2
HEAVY = [{"type": "reverb", "room_size": 0.9}, {"type": "chorus"}, {"type": "phaser"}] * 4


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("poison")
    with Platform(
        root / "data",
        gateway_port=free_port(),
        workers=("effects",),
        log_dir=root / "logs",
        extra_env={"ACK_WAIT_S": "2", "MAX_DELIVER": str(MAX_DELIVER)},
    ) as running:
        yield running


def _wait_started(log: Path, job_id: str, attempt: int, timeout_s: float = 60) -> None:
    """Until the worker's log says it started delivery `attempt` of the job."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if job_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("job_id") == job_id and entry.get("attempt") == str(attempt):
                    return
        time.sleep(0.1)
    raise AssertionError(f"delivery {attempt} of job {job_id} never started")


async def _dead_letters(url: str) -> list[dict[str, str]]:
    nc = await nats.connect(url)
    try:
        return [
            {**dict(msg.headers or {}), "job_id": json.loads(msg.data)["job_id"]}
            async for msg in stream_messages(nc.jetstream(), DEAD_LETTERS)
        ]
    finally:
        await nc.close()


def test_a_command_that_kills_every_worker_is_dead_lettered_and_its_job_fails(
    platform: Platform, tmp_path: Path
) -> None:
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        long_file = write_noise(tmp_path / "long.wav", 90.0)
        with long_file.open("rb") as f:
            upload_id = api.post("/api/v1/uploads", files={"file": ("long.wav", f)}).json()["id"]
        job = api.post(
            "/api/v1/jobs",
            json={"kind": "effects", "input": {"upload_id": upload_id}, "params": {"chain": HEAVY}},
        ).json()
        effects = platform.services["effects"]
        assert platform.log_dir is not None
        for attempt in range(1, MAX_DELIVER + 1):
            _wait_started(platform.log_dir / "effects.log", job["id"], attempt)
            time.sleep(0.3)
            effects.kill()  # the "poison": this job takes its worker down, every time
            effects.start()
            effects.wait_ready(60)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            final = api.get(f"/api/v1/jobs/{job['id']}").json()
            if final["status"] == "failed":
                break
            time.sleep(0.25)
        assert final["status"] == "failed", final
        assert final["error"]["code"] == "dead_letter"
        assert f"delivered {MAX_DELIVER} times and never finished" in final["error"]["reason"]

        kept = asyncio.run(_dead_letters(platform.nats.url))
        assert [k["job_id"] for k in kept] == [job["id"]]
        assert kept[0]["Cadenza-Subject"] == "effects.requested"

        # The worker still serves everyone else.
        small = write_noise(tmp_path / "small.wav", 1.0)
        with small.open("rb") as f:
            other = api.post("/api/v1/uploads", files={"file": ("s.wav", f)}).json()["id"]
        fine = api.post(
            "/api/v1/jobs",
            json={
                "kind": "effects",
                "input": {"upload_id": other},
                "params": {"chain": [{"type": "gain"}]},
            },
        ).json()
        deadline = time.monotonic() + 60
        while api.get(f"/api/v1/jobs/{fine['id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the next job never completed"
            time.sleep(0.2)
