"""Shared by the benchmarks: a running platform, an API client, percentiles, results."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

from cadenza.devstack.platform import WORKERS, Platform
from cadenza.devstack.ports import free_port

RESULTS = Path(__file__).parent / "results"


@contextmanager
def running_platform(
    root: Path,
    sync_interval: str = "always",
    **env: str,
) -> Iterator[Platform]:
    """The whole platform; `WORKERS="a,b"` in `env` starts only those workers."""
    workers = env.pop("WORKERS", None)
    with Platform(
        root / "data",
        workers=tuple(workers.split(",")) if workers else tuple(WORKERS),
        nats_sync_interval=sync_interval,
        gateway_port=free_port(),
        log_dir=root / "logs",
        # Benchmarks measure throughput: no quotas on the one development account, unless a
        # benchmark sets them (bench.abuse).
        extra_env={
            "LOG_LEVEL": "WARNING",
            "MAX_ACTIVE_JOBS": "0",
            "STORAGE_QUOTA_BYTES": "0",
            **env,
        },
    ) as platform:
        yield platform


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(latencies_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in latencies_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def upload(api: httpx.Client, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        response = api.post("/api/v1/uploads", files={"file": (path.name, f)}, timeout=600)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def effects_job(upload_id: str, chain: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    return {
        "kind": "effects",
        "input": {"upload_id": upload_id},
        "params": {"chain": chain, **params},
    }


async def submit_and_wait(
    client: httpx.AsyncClient, ws: Any, body: dict[str, Any], timeout_s: float = 3600
) -> tuple[float, dict[str, Any]]:
    """POST a job, follow it on an open WebSocket; seconds from submit to completion."""
    started = time.perf_counter()
    response = await client.post("/api/v1/jobs", json=body)
    response.raise_for_status()
    job_id = response.json()["id"]
    await ws.send(json.dumps({"action": "subscribe", "job_id": job_id}))
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if event.get("job_id") != job_id:
            continue
        if event["type"] == "job.completed":
            return time.perf_counter() - started, event
        if event["type"] in ("job.failed", "job.cancelled", "error"):
            raise RuntimeError(f"job {job_id} ended as {event}")


def ws_url(platform: Platform) -> str:
    return platform.url.replace("http://", "ws://") + "/api/v1/ws"


async def open_ws(platform: Platform) -> Any:
    return await websockets.connect(ws_url(platform), max_size=None)


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size of a process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    result = {"benchmark": name, "machine": machine(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), flush=True)


class Follower:
    """One WebSocket, many jobs: resolves a future per job when it ends."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            event = json.loads(raw)
            future = self.waiting.get(event.get("job_id", ""))
            if future is None or future.done():
                continue
            if event["type"] == "job.completed":
                future.set_result(event)
            elif event["type"] in ("job.failed", "job.cancelled", "error"):
                future.set_exception(RuntimeError(f"job ended as {event}"))

    async def run(self, client: httpx.AsyncClient, body: dict[str, Any]) -> float:
        started = time.perf_counter()
        response = await client.post("/api/v1/jobs", json=body)
        response.raise_for_status()
        job_id = response.json()["id"]
        future = self.waiting[job_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"action": "subscribe", "job_id": job_id}))
        await asyncio.wait_for(future, 120)
        elapsed = time.perf_counter() - started
        del self.waiting[job_id]
        await self.ws.send(json.dumps({"action": "unsubscribe", "job_id": job_id}))
        return elapsed

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()
