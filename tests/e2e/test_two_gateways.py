"""Two gateway replicas behind a round-robin proxy on loopback, on the platform's bus and
database: a socket on one follows a job submitted through the other; the outbox relay and
the retention sweep run once across replicas; rate limits are per replica, measured.

The proxy sends each connection to the next replica and records which, so every assertion
says which replica a connection reached."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
import websockets
from nats.aio.msg import Msg

from cadenza.contracts import JobCancelled
from cadenza.devstack.platform import Platform
from cadenza.devstack.round_robin_proxy import ProxyThread, RoundRobinProxy
from cadenza.devstack.testing import stream_messages, write_noise

from .conftest import second_gateway

pytestmark = pytest.mark.platform

# Per replica: a burst of BURST requests per principal, and (1 a minute) next to no refill
# while a test counts.
BURST = 20
RETENTION_INTERVAL_S = 1.0


@dataclass
class Replicas:
    urls: list[str]
    names: list[str]
    proxy: RoundRobinProxy

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def served(self) -> list[int]:
        return list(self.proxy.served)

    def landed(self, before: list[int]) -> int:
        """The replica the one connection made since `before` reached."""
        delta = [after - b for after, b in zip(self.proxy.served, before, strict=True)]
        assert sorted(delta) == [0] * (len(delta) - 1) + [1], delta
        return delta.index(1)


@pytest.fixture(scope="module")
def replicas(platform: Platform) -> Iterator[Replicas]:
    env = {
        "RATE_LIMIT_PER_MINUTE": "1",
        "RATE_LIMIT_BURST": str(BURST),
        "RETENTION_INTERVAL_S": str(RETENTION_INTERVAL_S),
    }
    names = ["gateway-a", "gateway-b"]
    with ExitStack() as stack:
        urls = [stack.enter_context(second_gateway(platform, name, env)) for name in names]
        backends = [("127.0.0.1", int(url.rsplit(":", 1)[1])) for url in urls]
        proxy = stack.enter_context(ProxyThread(RoundRobinProxy(backends, max_connections=64)))
        yield Replicas(urls, names, proxy)


def effects_job(upload_id: str) -> dict[str, object]:
    chain = [{"type": "reverb", "room_size": 0.8}, {"type": "gain", "gain_db": -3}]
    return {"kind": "effects", "input": {"upload_id": upload_id}, "params": {"chain": chain}}


async def test_a_socket_on_one_replica_follows_a_job_submitted_through_the_other(
    replicas: Replicas, tmp_path: Path
) -> None:
    source = write_noise(tmp_path / "music.wav", 30.0)
    ws_url = replicas.url.replace("http://", "ws://") + "/api/v1/ws"
    async with httpx.AsyncClient(base_url=replicas.url, timeout=60) as api:
        with source.open("rb") as f:
            uploaded = await api.post("/api/v1/uploads", files={"file": ("music.wav", f)})
        assert uploaded.status_code == 201, uploaded.text
    async with websockets.connect(ws_url) as ws:
        watcher = replicas.proxy.backend_of(ws.local_address)
        assert watcher is not None
        # A new client: a new connection, which the proxy sends to the next replica.
        before = replicas.served()
        async with httpx.AsyncClient(base_url=replicas.url, timeout=60) as api:
            submitted = await api.post("/api/v1/jobs", json=effects_job(uploaded.json()["id"]))
        assert submitted.status_code == 202, submitted.text
        submitter = replicas.landed(before)
        assert submitter != watcher, "the job went in through the other replica"

        job_id = submitted.json()["id"]
        await ws.send(json.dumps({"action": "subscribe", "job_id": job_id}))
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] not in ("job.completed", "job.failed"):
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "job.snapshot"
    assert events[0]["status"] in ("queued", "running"), "the rest came live, over the bus"
    assert kinds[-1] == "job.completed", events[-1]
    assert [a["name"] for a in events[-1]["artifacts"]] == ["processed.wav"]

    # And the watcher's replica reads the job as the submitter's accepted it.
    async with httpx.AsyncClient(base_url=replicas.urls[watcher], timeout=60) as api:
        job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
    assert (job["status"], job["progress"]) == ("completed", 1.0)


def _relayed(log_file: Path, offset: int) -> int:
    """Events the replica's outbox relay says it published, in its log after `offset`."""
    with log_file.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return sum(int(n) for n in re.findall(r"outbox relay published (\d+) events", text))


async def test_the_outbox_relay_publishes_each_event_once_across_replicas(
    platform: Platform, replicas: Replicas
) -> None:
    """Events a gateway committed and died before publishing, left in the outbox: three
    replicas (the platform's gateway, a and b) relay them at once, each event once on the
    wire (core subscribers such as every replica's live feed: JetStream's dedup does not
    cover them)."""
    assert platform.log_dir is not None
    logs = [platform.log_dir / f"{name}.log" for name in ("gateway", *replicas.names)]
    offsets = [log.stat().st_size for log in logs]
    owner = f"outbox-{uuid.uuid4().hex[:8]}"
    events = [
        JobCancelled(job_id=uuid.uuid4(), owner=owner, correlation_id=uuid.uuid4())
        for _ in range(600)
    ]
    ids = {e.event_id for e in events}
    copies: list[uuid.UUID] = []

    async def hear(msg: Msg) -> None:
        event_id = uuid.UUID(json.loads(msg.data)["event_id"])
        if event_id in ids:
            copies.append(event_id)

    nc = await nats.connect(platform.nats.url)
    db = await asyncpg.connect(platform.postgres.dsn)
    try:
        await nc.subscribe("job.cancelled", cb=hear)
        await nc.flush()
        await db.executemany(
            "INSERT INTO outbox (event_id, subject, payload, created_at)"
            " VALUES ($1, $2, $3::jsonb, now() - interval '1 hour')",
            [(e.event_id, e.subject, e.model_dump_json()) for e in events],
        )
        deadline = time.monotonic() + 60
        while await db.fetchval(
            "SELECT count(*) FROM outbox WHERE event_id = ANY($1::uuid[])", list(ids)
        ):
            assert time.monotonic() < deadline, "the relays did not empty the outbox"
            await asyncio.sleep(0.2)
        await nc.flush()
        await asyncio.sleep(0.5)
        stored = [
            JobCancelled.model_validate_json(m.data).event_id
            for m in await stream_messages(nc.jetstream(), "job.cancelled")
        ]
    finally:
        await db.close()
        await nc.close()
    assert len(copies) == len(ids) and set(copies) == ids, "each event once on the wire"
    assert sorted(i for i in stored if i in ids) == sorted(ids), "each once in the stream"
    per_replica = [_relayed(log, offset) for log, offset in zip(logs, offsets, strict=True)]
    print(f"outbox: {len(ids)} events relayed once each; by gateway, a, b: {per_replica}")
    assert sum(per_replica) >= len(ids), per_replica  # (and any other leftovers)
    assert sum(1 for n in per_replica if n) >= 2, f"the replicas shared the work: {per_replica}"


def _sweeps(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    found = re.search(r"^cadenza_retention_sweeps_total (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_the_scheduled_retention_sweep_runs_once_per_interval_across_replicas(
    replicas: Replicas,
) -> None:
    """Each replica's timer fires every interval; together they sweep about once per
    interval (without the claim each would sweep once per interval: twice as often)."""
    started = time.monotonic()
    before = [_sweeps(url) for url in replicas.urls]
    time.sleep(10.0)
    after = [_sweeps(url) for url in replicas.urls]
    window_s = time.monotonic() - started
    ran = [a - b for a, b in zip(after, before, strict=True)]
    # Claims are at least 0.9 interval apart (the database's clock): at most this many, with
    # a second's slack for a claim counted a moment after it was made.
    most = int((window_s + 1.0) / (0.9 * RETENTION_INTERVAL_S)) + 1
    print(f"retention: {sum(ran):g} scheduled sweeps in {window_s:.1f} s by a, b: {ran}")
    assert 2 <= sum(ran) <= most, (ran, most)


def _sign_up(url: str, email: str) -> dict[str, str]:
    password = "correct horse battery"
    with httpx.Client(base_url=url, timeout=30) as api:
        created = api.post("/api/v1/auth/register", json={"email": email, "password": password})
        assert created.status_code == 201, created.text
        pair = api.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert pair.status_code == 200, pair.text
    return {"Authorization": f"Bearer {pair.json()['access_token']}"}


def test_rate_limits_are_per_replica(replicas: Replicas) -> None:
    """RATE_LIMIT_BURST (and _PER_MINUTE) hold per replica: over new connections, which
    the proxy spreads, a caller gets BURST from each replica; over one kept-alive
    connection, BURST in all."""
    spread = _sign_up(replicas.urls[0], f"spread-{uuid.uuid4().hex[:8]}@example.com")
    allowed = [0, 0]
    refused = [0, 0]
    for _ in range(2 * BURST + 6):
        before = replicas.served()
        with httpx.Client(base_url=replicas.url, headers=spread, timeout=30) as api:
            status = api.get("/api/v1/jobs").status_code
        replica = replicas.landed(before)
        assert status in (200, 429), status
        (allowed if status == 200 else refused)[replica] += 1
    print(f"rate limit, new connections: allowed {allowed}, refused {refused} by a, b")
    assert allowed == [BURST, BURST], (allowed, refused)
    assert refused == [3, 3]

    kept = _sign_up(replicas.urls[1], f"kept-{uuid.uuid4().hex[:8]}@example.com")
    before = replicas.served()
    with httpx.Client(base_url=replicas.url, headers=kept, timeout=30) as api:
        statuses = [api.get("/api/v1/jobs").status_code for _ in range(BURST + 3)]
    replicas.landed(before)  # one connection, one replica
    assert statuses == [200] * BURST + [429] * 3
