"""`cadenza-replay` against the running platform: a job's history straight from JetStream,
and its events re-published on a debugging subject that no consumer acts on."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import nats
import pytest

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

from .conftest import upload, wait_for_status

pytestmark = pytest.mark.platform


def replay(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cadenza.gateway.replay", *args],
        env={**os.environ, "NATS_URL": platform.nats.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def finished_job(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> str:
    tone = write_tone(tmp_path_factory.mktemp("replay") / "t.wav", 1.0)
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        upload_id = upload(api, tone).json()["id"]
        job = api.post(
            "/api/v1/jobs",
            json={
                "kind": "effects",
                "input": {"upload_id": upload_id},
                "params": {"chain": [{"type": "gain", "gain_db": -2}]},
            },
        ).json()
        assert wait_for_status(api, job["id"])["status"] == "completed"
    return str(job["id"])


def test_history_prints_every_event_of_the_job_in_order(
    platform: Platform, finished_job: str
) -> None:
    shown = replay(platform, "history", finished_job)
    assert shown.returncode == 0, shown.stderr
    subjects = [line.split()[2] for line in shown.stdout.splitlines()]
    assert subjects[0] == "job.submitted"
    assert subjects[1] == "effects.requested"
    assert subjects[-1] == "effects.completed"
    assert "JOBS#" in shown.stdout and "EFFECTS#" in shown.stdout

    as_json = replay(platform, "history", finished_job, "--json")
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [e["subject"] for e in events] == subjects
    assert all(e["event"]["job_id"] == finished_job for e in events)

    unknown = replay(platform, "history", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 1
    assert "no events for job" in unknown.stderr


async def test_republish_sends_the_events_to_a_debugging_subject(
    platform: Platform, finished_job: str
) -> None:
    nc = await nats.connect(platform.nats.url)
    heard: list[str] = []
    try:
        sub = await nc.subscribe(f"debug.replay.{finished_job}.>")
        result = await asyncio.to_thread(replay, platform, "republish", finished_job)
        assert result.returncode == 0, result.stderr
        count = int(result.stdout.split()[1])
        for _ in range(count):
            msg = await sub.next_msg(timeout=10)
            heard.append(msg.subject.removeprefix(f"debug.replay.{finished_job}."))
        js = nc.jetstream()
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.find_stream_name_by_subject(f"debug.replay.{finished_job}.job.submitted")
    finally:
        await nc.close()
    assert heard[0] == "job.submitted" and heard[-1] == "effects.completed"


def test_no_secret_reaches_the_logs(platform: Platform, tmp_path: Path) -> None:
    """Sign up, sign in, use the tokens and an API key; none of it appears in any log."""
    password = "the password nobody should read 42"
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        api.post("/api/v1/auth/register", json={"email": "logs@example.com", "password": password})
        pair = api.post(
            "/api/v1/auth/login", json={"email": "logs@example.com", "password": password}
        ).json()
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        key = api.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=auth).json()["key"]
        api.get("/api/v1/jobs", headers={"Authorization": f"Bearer {key}x"})  # a wrong key
        api.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        api.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})  # reuse
    assert platform.log_dir is not None
    logs = "".join(p.read_text(errors="replace") for p in platform.log_dir.glob("*.log"))
    for secret in (password, pair["access_token"], pair["refresh_token"], key):
        assert secret not in logs
