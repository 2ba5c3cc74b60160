"""Faults with real processes, under load: 200+ jobs while the effects worker is killed
(SIGKILL) again and again, nats-server is killed and restarted, PostgreSQL is restarted and
a worker is stopped for a while. Afterwards every accepted job is completed or explicitly
failed, none twice, every artifact is whole, and the jobs projection equals one rebuilt
from the streams.

Run alone with `make faults` (it is part of `make test` too; FAULT_JOBS sets the load)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nats
import pytest

from cadenza.contracts.streams import EFFECTS, JOBS
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import wait_terminal, write_tone
from cadenza.gateway.replay import stream_messages

from .projection_check import rebuilt_differences

pytestmark = pytest.mark.platform

JOBS_TO_SUBMIT = int(os.environ.get("FAULT_JOBS", "300"))
CHAIN = [
    {"type": "compressor", "threshold_db": -20, "ratio": 3},
    {"type": "reverb", "room_size": 0.6},
    {"type": "chorus"},
    {"type": "gain", "gain_db": -3},
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("faults")
    with Platform(
        root / "data",
        gateway_port=free_port(),
        workers=("effects",),
        log_dir=root / "logs",
        extra_env={
            # A killed worker's job comes back after ACK_WAIT_S; the kills must not use up
            # the deliveries of a job.
            "ACK_WAIT_S": "3",
            "MAX_DELIVER": "20",
            "RETRY_BACKOFF_S": "[0.5, 1, 2]",
            "CONCURRENCY": "2",
            # Hundreds of jobs of the one development account at once: the quotas are the
            # abuse suite's subject, not this one's.
            "MAX_ACTIVE_JOBS": "0",
            "STORAGE_QUOTA_BYTES": "0",
        },
    ) as running:
        yield running


class Submitter:
    """Submits jobs from a few threads; remembers which were accepted (202)."""

    def __init__(self, url: str, upload_id: str) -> None:
        self.url = url
        self.upload_id = upload_id
        self.accepted: list[str] = []
        self.refused: Counter[int] = Counter()
        self.lock = threading.Lock()

    def submit(self, index: int) -> None:
        body = {
            "kind": "effects",
            "input": {"upload_id": self.upload_id},
            "params": {"chain": CHAIN},
        }
        try:
            response = httpx.post(
                f"{self.url}/api/v1/jobs",
                json=body,
                headers={"Idempotency-Key": f"fault-{index}"},
                timeout=20,
            )
        except httpx.HTTPError:
            with self.lock:
                self.refused[0] += 1
            return
        with self.lock:
            if response.status_code == 202:
                self.accepted.append(response.json()["id"])
            else:
                self.refused[response.status_code] += 1


def _faults(platform: Platform, log: list[str]) -> None:
    effects = platform.services["effects"]
    for round_ in range(4):
        time.sleep(1.5)
        effects.kill()
        log.append(f"kill -9 effects worker ({round_ + 1})")
        time.sleep(0.3)
        effects.start()
    time.sleep(1.0)
    platform.nats.kill()
    log.append("kill -9 nats-server")
    time.sleep(1.0)
    platform.nats.start(platform.data_dir.parent / "logs" / "nats-restarted.log")
    log.append("nats-server back")
    time.sleep(2.0)
    platform.postgres.stop()
    log.append("PostgreSQL stopped")
    time.sleep(2.0)
    platform.postgres.start()
    log.append("PostgreSQL back")
    time.sleep(1.0)
    effects.stop()
    log.append("effects worker stopped for 5 s")
    time.sleep(5.0)
    effects.start()
    log.append("effects worker back")
    time.sleep(1.5)
    effects.kill()
    log.append("kill -9 effects worker (5)")
    effects.start()


async def _facts(platform: Platform) -> tuple[Counter[str], Counter[str]]:
    """completed facts per job id in the EFFECTS stream, and terminal job facts."""
    nc = await nats.connect(platform.nats.url)
    try:
        js = nc.jetstream()
        completed: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        async for msg in stream_messages(js, EFFECTS):
            if msg.subject == "effects.completed":
                completed[json.loads(msg.data)["job_id"]] += 1
            elif msg.subject == "effects.failed":
                failed[json.loads(msg.data)["job_id"]] += 1
        async for msg in stream_messages(js, JOBS):
            if msg.subject == "job.dead_lettered":
                failed[json.loads(msg.data)["job_id"]] += 1
        return completed, failed
    finally:
        await nc.close()


def _redelivered(platform: Platform) -> set[str]:
    """Jobs the effects worker started more than once (its log says which delivery)."""
    assert platform.log_dir is not None
    jobs = set()
    for line in (platform.log_dir / "effects.log").read_text().splitlines():
        if '"attempt"' in line and line.startswith("{"):
            entry = json.loads(line)
            if int(entry.get("attempt", 1)) > 1:
                jobs.add(entry["job_id"])
    return jobs


def test_every_accepted_job_ends_once_and_whole_through_kills_and_outages(
    platform: Platform, tmp_path: Path
) -> None:
    tone = write_tone(tmp_path / "tone.wav", 20.0)
    with tone.open("rb") as f:
        made = httpx.post(
            f"{platform.url}/api/v1/uploads", files={"file": ("t.wav", f)}, timeout=30
        )
    assert made.status_code == 201, made.text
    submitter = Submitter(platform.url, made.json()["id"])
    injected: list[str] = []

    def submit_all() -> None:
        with ThreadPoolExecutor(4) as pool:
            for index in range(JOBS_TO_SUBMIT):
                pool.submit(submitter.submit, index)
                time.sleep(0.08)  # a steady stream over the whole fault schedule

    # Faults from this (the main) thread: children die with the thread that started them.
    submitting = threading.Thread(target=submit_all)
    started = time.monotonic()
    submitting.start()
    _faults(platform, injected)
    submitting.join()
    platform.services["gateway"].wait_ready(60)
    accepted = sorted(set(submitter.accepted))
    assert len(accepted) >= 200, (len(accepted), submitter.refused)
    assert set(submitter.refused) <= {503}, f"outages answer 503, never 5xx: {submitter.refused}"
    final = wait_terminal(platform.url, accepted, timeout_s=240)
    took = time.monotonic() - started

    statuses = Counter(job["status"] for job in final.values())
    for job in final.values():
        if job["status"] == "failed":
            assert job["error"]["reason"], job
    completed, failed = asyncio.run(_facts(platform))
    assert max(completed.values(), default=0) == 1, "a job completed twice"
    assert not (set(completed) & set(failed)), "a job both completed and failed"
    assert {j for j, v in final.items() if v["status"] == "completed"} == set(completed) & set(
        final
    )

    # Every artifact whole: the bytes on disk ({owner}/{job}/{name}) hash to the fact's.
    checked = 0
    for job in final.values():
        for artifact in job["artifacts"]:
            path = platform.storage_dir / "local" / job["id"] / artifact["name"]
            data = path.read_bytes()
            assert len(data) == artifact["bytes"]
            assert hashlib.sha256(data).hexdigest() == artifact["sha256"]
            checked += 1
    assert checked >= statuses["completed"]
    leftovers = [
        p for p in platform.storage_dir.rglob("*") if p.is_file() and p.name.startswith(".")
    ]
    assert leftovers == [], f"half-written files: {leftovers[:5]}"

    assert asyncio.run(rebuilt_differences(platform)) == [], "projection differs from the streams"
    redelivered = _redelivered(platform)
    assert redelivered, "the kills caught no job mid-run"
    report = {
        "submitted": JOBS_TO_SUBMIT,
        "accepted": len(accepted),
        "refused_during_outages": dict(submitter.refused),
        "completed": statuses["completed"],
        "failed": statuses["failed"],
        "lost": 0,
        "duplicated": 0,
        "artifacts_checked": checked,
        "jobs_redelivered_after_a_kill": len(redelivered),
        "faults": injected,
        "seconds": round(took, 1),
    }
    print("FAULTS " + json.dumps(report))
