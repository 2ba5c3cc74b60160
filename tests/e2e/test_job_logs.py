"""Every log line about a job, in every service, is a JSON object that carries the job's
job_id and correlation_id: a pipeline through gateway, separation, effects and render, and a
job that fails, followed in the services' own log files."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise

from .conftest import follow, upload, wait_for_status

pytestmark = pytest.mark.platform

SERVICE_LOGS = ("gateway", "separation", "effects", "render", "catalog", "composition")


def service_lines(platform: Platform) -> tuple[list[dict[str, Any]], list[str]]:
    """(JSON lines, other lines) of the Cadenza services' logs (not nats-server's)."""
    assert platform.log_dir is not None
    structured: list[dict[str, Any]] = []
    other: list[str] = []
    for name in SERVICE_LOGS:
        for line in (platform.log_dir / f"{name}.log").read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                other.append(line)
                continue
            if isinstance(entry, dict):
                structured.append(entry)
            else:
                other.append(line)
    return structured, other


def correlation_of(platform: Platform, job_id: str) -> str:
    """The correlation id every event of the job carries, read back from JetStream."""
    shown = subprocess.run(
        [sys.executable, "-m", "cadenza.gateway.replay", "history", job_id, "--json"],
        env={**os.environ, "NATS_URL": platform.nats.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    events = [json.loads(line)["event"] for line in shown.stdout.splitlines()]
    ids = {e["correlation_id"] for e in events}
    assert len(events) > 1 and len(ids) == 1, "one correlation id from request to last stage"
    return str(ids.pop())


def lines_of(
    platform: Platform, job_id: str, services: set[str], timeout_s: float = 10
) -> list[dict[str, Any]]:
    """The JSON lines that mention `job_id`, once each of `services` has written one (the
    projection logs a job's end a moment after the WebSocket says so)."""
    deadline = time.monotonic() + timeout_s
    while True:
        structured, other = service_lines(platform)
        mentioning = [e for e in structured if job_id in json.dumps(e)]
        seen = {e["service"] for e in mentioning if e.get("job_id") == job_id}
        if services <= seen or time.monotonic() > deadline:
            assert not [line for line in other if job_id in line], "a job line that is not JSON"
            return mentioning
        time.sleep(0.2)


def assert_every_line_carries_the_job(
    lines: list[dict[str, Any]], job_id: str, correlation_id: str
) -> None:
    assert lines
    for entry in lines:
        assert entry.get("job_id") == job_id, entry
        assert entry.get("correlation_id") == correlation_id, entry
        assert {"ts", "level", "service", "logger", "msg"} <= set(entry), entry


async def test_a_pipelines_lines_carry_its_ids_in_every_service(
    api: httpx.Client, ws_url: str, platform: Platform, tmp_path: Path
) -> None:
    source = upload(api, write_noise(tmp_path / "song.wav", 3.0)).json()
    response = api.post(
        "/api/v1/jobs",
        json={
            "kind": "pipeline",
            "preset": "remix",
            "input": {"upload_id": source["id"]},
            "params": {"separation": {"model": "classical"}, "master": {"preset": "streaming"}},
        },
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    await follow(ws_url, job_id, 180, ("job.completed", "job.failed", "error"))
    assert wait_for_status(api, job_id)["status"] == "completed"
    correlation_id = correlation_of(platform, job_id)

    # The projection logs the job's end a moment after the API says it completed.
    deadline = time.monotonic() + 10
    while True:
        lines = lines_of(platform, job_id, {"gateway", "separation", "effects", "render"})
        ended = any(e["msg"] == "pipeline job completed" for e in lines)
        if ended or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert_every_line_carries_the_job(lines, job_id, correlation_id)
    by_service: dict[str, list[str]] = {}
    for entry in lines:
        by_service.setdefault(entry["service"], []).append(entry["msg"])
    assert set(by_service) == {"gateway", "separation", "effects", "render"}, by_service
    gateway = by_service["gateway"]
    assert any(m.startswith("accepted pipeline job") for m in gateway), gateway
    assert any(m == "pipeline job completed" for m in gateway), gateway
    for worker in ("separation", "effects", "render"):
        assert any(m.startswith("started (delivery 1 of") for m in by_service[worker]), worker
    # The worker lines also say which stage and which attempt.
    stages = {e.get("stage") for e in lines if e["service"] != "gateway"}
    assert stages == {"separation", "effects", "mix", "master"}


def test_a_failed_jobs_lines_carry_its_ids_and_the_reason(
    api: httpx.Client, platform: Platform, tmp_path: Path
) -> None:
    silence = tmp_path / "silence.wav"
    sf.write(str(silence), np.zeros((44100, 2), dtype=np.float32), 44100)
    upload_id = upload(api, silence).json()["id"]
    response = api.post(
        "/api/v1/jobs",
        json={"kind": "master", "input": {"upload_id": upload_id}, "params": {}},
    )
    assert response.status_code == 202, response.text
    job = wait_for_status(api, response.json()["id"], 60)
    assert job["status"] == "failed" and "silence" in job["error"]["reason"]
    correlation_id = correlation_of(platform, job["id"])

    lines = lines_of(platform, job["id"], {"gateway", "render"})
    assert_every_line_carries_the_job(lines, job["id"], correlation_id)
    ending = [e for e in lines if e["service"] == "gateway" and "failed" in e["msg"]]
    assert ending and "silence" in ending[0]["msg"], ending
    # Bad input is the client's problem, not the service's: info, with the reason.
    assert any(
        e["service"] == "render"
        and e["msg"].startswith("job failed permanently: ")
        and "silence" in e["msg"]
        for e in lines
    ), lines
