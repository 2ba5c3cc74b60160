"""Dispatch overhead: tiny jobs (gain on a 1 s clip) submitted over HTTP, completion seen
over the WebSocket. Sequential jobs give the latency (p50/p99); concurrent submitters give
the throughput (jobs/s). Targets: p50 ≤ 25 ms, p99 ≤ 100 ms on a 2-core machine.

    .venv/bin/python -m bench.dispatch_latency [--jobs 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Follower,
    effects_job,
    open_ws,
    running_platform,
    save,
    summary_ms,
    upload,
)
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

TINY = [{"type": "gain", "gain_db": -3}]


async def measure(
    platform: Platform, upload_id: str, jobs: int, concurrency: int
) -> dict[str, Any]:
    body = effects_job(upload_id, TINY)
    async with httpx.AsyncClient(base_url=platform.url, timeout=120) as client:
        follower = Follower(await open_ws(platform))
        try:
            for _ in range(20):  # warm-up: connections, caches, JIT-free but lazy imports
                await follower.run(client, body)
            sequential = [await follower.run(client, body) for _ in range(jobs)]

            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(jobs):
                queue.put_nowait(i)
            concurrent: list[float] = []

            async def submitter() -> None:
                while not queue.empty():
                    queue.get_nowait()
                    concurrent.append(await follower.run(client, body))

            started = time.perf_counter()
            await asyncio.gather(*(submitter() for _ in range(concurrency)))
            wall = time.perf_counter() - started
        finally:
            await follower.close()
    return {
        "sequential": summary_ms(sequential),
        "concurrent": {
            "concurrency": concurrency,
            **summary_ms(concurrent),
            "jobs_per_s": round(jobs / wall, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--effects-concurrency",
        type=int,
        default=None,
        help="CONCURRENCY of the effects worker (default: the service default)",
    )
    parser.add_argument(
        "--nats-sync",
        default="always",
        help="JetStream sync_interval (default: always, the embedded setting)",
    )
    args = parser.parse_args()
    env = {}
    if args.effects_concurrency:
        env["CONCURRENCY"] = str(args.effects_concurrency)
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        clip = write_tone(root / "clip.wav", 1.0)
        with running_platform(root, sync_interval=args.nats_sync, **env) as platform:
            with httpx.Client(base_url=platform.url) as api:
                upload_id = upload(api, clip)["id"]
            result = asyncio.run(measure(platform, upload_id, args.jobs, args.concurrency))
    save(
        "dispatch_latency",
        {
            "jobs": args.jobs,
            "effects_env": env,
            "nats_sync_interval": args.nats_sync,
            **result,
            "targets": {"p50_ms": 25, "p99_ms": 100},
        },
    )


if __name__ == "__main__":
    main()
