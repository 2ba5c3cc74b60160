"""The whole platform on a three-node JetStream cluster (nats-servers on loopback, streams
and buckets at 3 replicas, `sync_interval: always`, the services given all three nodes),
losing nodes under load: while CLUSTER_JOBS jobs (effects, and every tenth a master on the
render service) are submitted through the API, the EFFECTS stream's leader is killed
(SIGKILL) and later started again; then each node in turn is killed, started, and waited
for until JetStream is current on it again; last, the EFFECTS leader is frozen (SIGSTOP)
for 20 s, open connections and all, and thawed.

Afterwards:
- lost: every job whose submit the gateway acknowledged (202) has completed;
- duplicated: no job has two completed facts (nor a completed and a failed one), no stream
  holds two messages with the same Nats-Msg-Id (the same event stored twice), and the
  jobs table has one row per acknowledged submit;
- every artifact's bytes hash to the sha256 its completed fact recorded;
- the jobs projection equals one rebuilt from the streams (cadenza-replay's rebuild and
  compare).

Run by `make cluster` (CLUSTER_JOBS sets the load; results in docs/reliability.md)."""

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
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client

from cadenza.contracts.streams import ALL_STREAMS, EFFECTS, JOBS, RENDER
from cadenza.devstack.nats_cluster import NatsCluster
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import wait_terminal, write_tone
from cadenza.gateway.replay import stream_messages
from cadenza.runtime.bus import MSG_ID_HEADER, connect_options
from cadenza.runtime.settings import BusSettings

from .projection_check import rebuilt_differences

pytestmark = [pytest.mark.platform, pytest.mark.deployed(target="cluster")]

JOBS_TO_SUBMIT = int(os.environ.get("CLUSTER_JOBS", "300"))
SUBMIT_EVERY_S = float(os.environ.get("CLUSTER_SUBMIT_EVERY_S", "0.25"))
# Longer than the clients' NATS_STALE_AFTER_S (15 s), so they must leave the frozen node.
FROZEN_S = 20.0
CHAIN = [
    {"type": "compressor", "threshold_db": -20, "ratio": 3},
    {"type": "reverb", "room_size": 0.6},
    {"type": "gain", "gain_db": -3},
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("cluster")
    with Platform(
        root / "data",
        gateway_port=free_port(),
        nats_nodes=3,
        log_dir=root / "logs",
        extra_env={
            # A job whose worker lost its node comes back after ACK_WAIT_S; the failovers
            # must not use up a job's deliveries.
            "ACK_WAIT_S": "5",
            "MAX_DELIVER": "20",
            "RETRY_BACKOFF_S": "[0.5, 1, 2]",
            "CONCURRENCY": "2",
            "MAX_ACTIVE_JOBS": "0",
            "STORAGE_QUOTA_BYTES": "0",
        },
    ) as running:
        yield running


async def _connect(platform: Platform) -> Client:
    """A client of the cluster, as the services connect (every node, the account's login)."""
    return await nats.connect(**connect_options(BusSettings(nats_url=platform.nats_url)))


def _cluster(platform: Platform) -> NatsCluster:
    assert platform.nats_cluster is not None
    return platform.nats_cluster


class Submitter:
    """Submits jobs from a few threads; remembers which were acknowledged (202)."""

    def __init__(self, url: str, upload_id: str) -> None:
        self.url = url
        self.upload_id = upload_id
        self.accepted: dict[str, str] = {}  # job id → kind
        self.refused: Counter[int] = Counter()
        self.seconds: list[float] = []  # each submit's, answered or not
        self.lock = threading.Lock()

    def submit(self, index: int) -> None:
        kind = "master" if index % 10 == 9 else "effects"
        params: dict[str, Any] = {"chain": CHAIN} if kind == "effects" else {}
        body = {"kind": kind, "input": {"upload_id": self.upload_id}, "params": params}
        started = time.monotonic()
        try:
            response = httpx.post(
                f"{self.url}/api/v1/jobs",
                json=body,
                headers={"Idempotency-Key": f"cluster-{index}"},
                timeout=30,
            )
        except httpx.HTTPError:
            with self.lock:
                self.refused[0] += 1
                self.seconds.append(time.monotonic() - started)
            return
        with self.lock:
            self.seconds.append(time.monotonic() - started)
            if response.status_code == 202:
                self.accepted[response.json()["id"]] = kind
            else:
                self.refused[response.status_code] += 1


def _new_leader(cluster: NatsCluster, stream: str, old: str, timeout_s: float = 60) -> float:
    """Seconds until the running nodes name a leader for `stream` other than `old`."""
    started = time.monotonic()
    while cluster.stream_leader(stream) in (None, old):
        assert time.monotonic() - started < timeout_s, f"{stream} has no new leader"
        time.sleep(0.05)
    return time.monotonic() - started


def _faults(cluster: NatsCluster, log: list[dict[str, Any]]) -> None:
    time.sleep(4.0)
    leader = cluster.stream_leader(EFFECTS.name)
    assert leader is not None
    index = cluster.index_of(leader)
    cluster.kill_node(index)
    elected = _new_leader(cluster, EFFECTS.name, leader)
    log.append({"fault": f"kill -9 {leader}, the EFFECTS leader", "new_leader_s": elected})
    time.sleep(4.0)
    started = time.monotonic()
    cluster.start_node(index)
    log.append({"fault": f"{leader} started again", "current_s": time.monotonic() - started})
    for index in range(cluster.size):
        time.sleep(2.0)
        name = cluster.name_of(index)
        led = [s.name for s in (EFFECTS, RENDER, JOBS) if cluster.stream_leader(s.name) == name]
        cluster.kill_node(index)
        time.sleep(2.0)
        started = time.monotonic()
        cluster.start_node(index)
        log.append(
            {
                "fault": f"rolling: kill -9 {name} (leading {led or 'none of EFFECTS/RENDER/JOBS'})"
                ", down 2 s, started",
                "current_s": time.monotonic() - started,
            }
        )
    # A node that stops answering without closing anything (SIGSTOP): clients must notice.
    time.sleep(2.0)
    leader = cluster.stream_leader(EFFECTS.name)
    assert leader is not None
    index = cluster.index_of(leader)
    cluster.freeze_node(index)
    elected = _new_leader(cluster, EFFECTS.name, leader)
    time.sleep(max(0.0, FROZEN_S - elected))
    cluster.thaw_node(index)
    started = time.monotonic()
    cluster.wait_current(index)
    log.append(
        {
            "fault": f"SIGSTOP {leader}, the EFFECTS leader, for {FROZEN_S:.0f} s, then SIGCONT",
            "new_leader_s": elected,
            "current_s": time.monotonic() - started,
        }
    )


async def _stored(platform: Platform) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Completed and failed facts per job id, and each Nats-Msg-Id's copies, in every stream."""
    nc = await _connect(platform)
    try:
        js = nc.jetstream()
        completed: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        copies: Counter[str] = Counter()
        for spec in ALL_STREAMS:
            async for msg in stream_messages(js, spec):
                copies[f"{spec.name}/{(msg.headers or {}).get(MSG_ID_HEADER)}"] += 1
                if spec in (EFFECTS, RENDER) and msg.subject.endswith(".completed"):
                    completed[json.loads(msg.data)["job_id"]] += 1
                elif msg.subject.endswith(".failed") or msg.subject == "job.dead_lettered":
                    failed[json.loads(msg.data)["job_id"]] += 1
        return completed, failed, copies
    finally:
        await nc.close()


async def _stream_replicas(platform: Platform) -> dict[str, list[str]]:
    """Each event stream's leader and replicas, and whether every replica is current."""
    nc = await _connect(platform)
    try:
        js = nc.jetstream()
        found: dict[str, list[str]] = {}
        for spec in ALL_STREAMS:
            info = await js.stream_info(spec.name)
            assert info.config.num_replicas == 3, spec.name
            assert info.cluster is not None and info.cluster.leader is not None
            found[spec.name] = [info.cluster.leader] + [
                f"{peer.name}{'' if peer.current else ' (behind)'}"
                for peer in info.cluster.replicas or []
            ]
        return found
    finally:
        await nc.close()


async def _job_rows(platform: Platform) -> set[str]:
    conn = await asyncpg.connect(platform.postgres.dsn)
    try:
        return {str(r["id"]) for r in await conn.fetch("SELECT id FROM jobs")}
    finally:
        await conn.close()


def _redelivered(platform: Platform) -> set[str]:
    """Jobs a worker started more than once (its log says which delivery)."""
    assert platform.log_dir is not None
    jobs = set()
    for worker in ("effects", "render"):
        for line in (platform.log_dir / f"{worker}.log").read_text().splitlines():
            if '"attempt"' in line and line.startswith("{"):
                entry = json.loads(line)
                if int(entry.get("attempt", 1)) > 1:
                    jobs.add(entry["job_id"])
    return jobs


def test_no_acknowledged_job_is_lost_or_doubled_when_cluster_nodes_are_killed(
    platform: Platform, tmp_path: Path
) -> None:
    cluster = _cluster(platform)
    tone = write_tone(tmp_path / "tone.wav", 4.0)
    with tone.open("rb") as f:
        made = httpx.post(
            f"{platform.url}/api/v1/uploads", files={"file": ("t.wav", f)}, timeout=30
        )
    assert made.status_code == 201, made.text
    submitter = Submitter(platform.url, made.json()["id"])
    injected: list[dict[str, Any]] = []

    def submit_all() -> None:
        with ThreadPoolExecutor(4) as pool:
            for index in range(JOBS_TO_SUBMIT):
                pool.submit(submitter.submit, index)
                time.sleep(SUBMIT_EVERY_S)  # a steady stream over the whole fault schedule

    # Faults from this (the main) thread: children die with the thread that started them.
    submitting = threading.Thread(target=submit_all)
    started = time.monotonic()
    submitting.start()
    _faults(cluster, injected)
    faults_took = time.monotonic() - started
    submitting.join()
    submitted_for = time.monotonic() - started
    accepted = sorted(submitter.accepted)
    assert len(accepted) >= JOBS_TO_SUBMIT * 0.9, (len(accepted), submitter.refused)
    assert set(submitter.refused) <= {503}, f"failovers answer 503, never 5xx: {submitter.refused}"
    final = wait_terminal(platform.url, accepted, timeout_s=300)
    took = time.monotonic() - started

    # Lost: none — every acknowledged submit completed.
    statuses = Counter(job["status"] for job in final.values())
    not_completed = {i: j.get("error") for i, j in final.items() if j["status"] != "completed"}
    assert not_completed == {}, f"acknowledged jobs that did not complete: {not_completed}"
    # Duplicated: none — one completed fact per job, no event stored twice, one row per job.
    completed, failed, copies = asyncio.run(_stored(platform))
    assert set(completed) >= set(accepted)
    doubled = {job: n for job, n in completed.items() if n > 1}
    assert doubled == {}, f"jobs completed more than once: {doubled}"
    assert not (set(completed) & set(failed)), "a job both completed and failed"
    stored_twice = {key: n for key, n in copies.items() if n > 1}
    assert stored_twice == {}, f"events stored twice: {list(stored_twice)[:5]}"
    rows = asyncio.run(_job_rows(platform))
    assert rows >= set(accepted)
    # Every artifact whole: the bytes on disk ({owner}/{job}/{name}) hash to the fact's.
    checked = 0
    for job in final.values():
        assert job["artifacts"], job
        for artifact in job["artifacts"]:
            data = (platform.storage_dir / "local" / job["id"] / artifact["name"]).read_bytes()
            assert len(data) == artifact["bytes"]
            assert hashlib.sha256(data).hexdigest() == artifact["sha256"]
            checked += 1
    leftovers = [
        p for p in platform.storage_dir.rglob("*") if p.is_file() and p.name.startswith(".")
    ]
    assert leftovers == [], f"half-written files: {leftovers[:5]}"

    assert asyncio.run(rebuilt_differences(platform)) == [], "projection differs from the streams"
    replicas = asyncio.run(_stream_replicas(platform))
    assert not any("behind" in peer for peers in replicas.values() for peer in peers), replicas
    kinds = Counter(submitter.accepted.values())
    latencies = sorted(submitter.seconds)
    report = {
        "submitted": JOBS_TO_SUBMIT,
        "accepted": len(accepted),
        "accepted_by_kind": dict(kinds),
        "refused_during_failovers": dict(submitter.refused),
        "submit_ms": {
            "p50": round(1000 * latencies[len(latencies) // 2]),
            "p99": round(1000 * latencies[int(len(latencies) * 0.99)]),
            "max": round(1000 * latencies[-1]),
        },
        "completed": statuses["completed"],
        "lost": 0,
        "duplicated": 0,
        "events_in_streams": sum(copies.values()),
        "job_rows_without_an_acknowledged_submit": len(rows - set(accepted)),
        "artifacts_checked": checked,
        "jobs_redelivered": len(_redelivered(platform)),
        "faults": injected,
        "faults_s": round(faults_took, 1),
        "submitting_s": round(submitted_for, 1),
        "all_done_s": round(took, 1),
        "stream_leaders_after": {name: peers[0] for name, peers in replicas.items()},
    }
    print("CLUSTER " + json.dumps(report))
