"""Against what the seeds used: the same tiny job (gain on a 1 s clip, output committed to
the local store) as a Cadenza bus round trip (publish `effects.requested`, receive
`effects.completed`) and as a Celery task on Redis (`apply_async().get()`), same run, same
machine. Redis comes from Debian's redis-server, installed here if missing.

    .venv/bin/python -m bench.vs_celery [--jobs 200] [--in-flight 16]

Both stacks get one worker process per core: Celery's default prefork pool, and as many
Cadenza effects workers sharing the durable consumer (replicas, as Kubernetes runs them;
`--replicas 1` for one process). Every job comes from one account: Celery has no
per-account limit, so each Cadenza worker takes as many of them at once as it has slots
(PER_ACCOUNT_CONCURRENCY = CONCURRENCY); `--per-account-concurrency 1` measures the
services' default, one job per account at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg

from bench.common import save, summary_ms
from cadenza.contracts import ArtifactRef, EffectsCompleted, EffectsRequested
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.platform import WORKERS, Service
from cadenza.devstack.ports import free_port, wait_for_port
from cadenza.devstack.testing import write_tone
from cadenza.effects.settings import Settings as EffectsSettings
from cadenza.runtime.artifacts import artifact_ref
from cadenza.runtime.storage import LocalObjectStore

CHAIN = [{"type": "gain", "gain_db": -3}]


def stored_clip(store_dir: Path, clip: Path, seconds: float = 1.0) -> ArtifactRef:
    """The stereo 44.1 kHz clip every job reads (written by write_tone), put into the
    workers' local store."""
    stored = LocalObjectStore(store_dir).put_file_sync("bench/uploads/clip.wav", clip, "audio/wav")
    return artifact_ref(stored, duration_s=seconds, sample_rate=44100, channels=2)


def ensure_redis() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    print("installing redis-server from Debian ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "redis-server"], check=True, env=env)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server is still missing after apt-get install")
    return found


class CadenzaClient:
    def __init__(self, nats_url: str, source: ArtifactRef) -> None:
        self.nats_url = nats_url
        self.source = source
        self.waiting: dict[uuid.UUID, asyncio.Future[None]] = {}

    async def __aenter__(self) -> CadenzaClient:
        self.nc = await nats.connect(self.nats_url)
        self.js = self.nc.jetstream()
        await self.nc.subscribe(EffectsCompleted.subject, cb=self._completed)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.close()

    async def _completed(self, msg: Msg) -> None:
        fact = EffectsCompleted.model_validate_json(msg.data)
        future = self.waiting.get(fact.job_id)
        if future and not future.done():
            future.set_result(None)

    async def run(self) -> float:
        command = EffectsRequested(
            job_id=uuid.uuid4(),
            owner="bench",
            correlation_id=uuid.uuid4(),
            input=self.source,
            chain=CHAIN,
        )
        future = self.waiting[command.job_id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await self.js.publish(
            command.subject,
            command.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(command.event_id)},
        )
        await asyncio.wait_for(future, 120)
        del self.waiting[command.job_id]
        return time.perf_counter() - started


async def cadenza_round(
    nats_url: str, source: ArtifactRef, jobs: int, in_flight: int
) -> tuple[list[float], list[float], float]:
    """`jobs` sequential round trips, then `jobs` with `in_flight` at a time."""
    async with CadenzaClient(nats_url, source) as client:
        for _ in range(5):
            await client.run()
        sequential = [await client.run() for _ in range(jobs)]
        semaphore = asyncio.Semaphore(in_flight)

        async def one() -> float:
            async with semaphore:
                return await client.run()

        started = time.perf_counter()
        concurrent = await asyncio.gather(*(one() for _ in range(jobs)))
        wall = time.perf_counter() - started
    return sequential, list(concurrent), wall


@contextmanager
def celery_worker(redis_url: str) -> Iterator[Any]:
    os.environ["CELERY_REDIS_URL"] = redis_url
    from bench.celery_app import app

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "--loglevel=WARNING"],
        env={**os.environ, "CELERY_REDIS_URL": redis_url},
        cwd=Path(__file__).parent.parent,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the celery worker did not start")
        yield app
    finally:
        worker.terminate()
        worker.wait(30)


def celery_round(
    source: Path, store_root: Path, jobs: int, in_flight: int
) -> tuple[list[float], list[float], float]:
    from bench.celery_app import apply_effects

    def submit() -> Any:
        key = f"bench/{uuid.uuid4()}/processed.wav"
        return apply_effects.apply_async((str(source), str(store_root), key, CHAIN))

    def run() -> float:
        started = time.perf_counter()
        submit().get(timeout=120)
        return time.perf_counter() - started

    for _ in range(5):
        run()
    sequential = [run() for _ in range(jobs)]
    concurrent: list[float] = []
    pending: list[tuple[float, Any]] = []
    started = time.perf_counter()
    for _ in range(jobs):
        if len(pending) >= in_flight:
            t0, result = pending.pop(0)
            result.get(timeout=120)
            concurrent.append(time.perf_counter() - t0)
        pending.append((time.perf_counter(), submit()))
    for t0, result in pending:
        result.get(timeout=120)
        concurrent.append(time.perf_counter() - t0)
    return sequential, concurrent, time.perf_counter() - started


def settle_garbage() -> None:
    """Before each round: collect this process's garbage and freeze what survives, so the
    collector does not stop one stack's client mid-round for what the other stack's client
    left (both clients live in this process; a full collection took tens of ms)."""
    gc.collect()
    gc.freeze()


def report(
    rounds: list[tuple[list[float], list[float], float]], jobs: int, in_flight: int
) -> dict[str, Any]:
    sequential = [v for r in rounds for v in r[0]]
    concurrent = [v for r in rounds for v in r[1]]
    wall = sum(r[2] for r in rounds)
    return {
        "sequential": summary_ms(sequential),
        "concurrent": {
            "in_flight": in_flight,
            **summary_ms(concurrent),
            "jobs_per_s": round(jobs * len(rounds) / wall, 1),
        },
    }


@dataclass(frozen=True)
class BusStack:
    nats_url: str
    store_dir: Path
    nats_pid: int
    worker_pids: tuple[int, ...]


@contextmanager
def bus_and_worker(
    root: Path,
    sync_interval: str,
    concurrency: int | None,
    per_account: int | None = None,
    replicas: int = 1,
    module: str = WORKERS["effects"],
) -> Iterator[BusStack]:
    """nats-server and `replicas` effects worker processes sharing its durable consumer."""
    nats_server = NatsServer(root / "nats", sync_interval=sync_interval)
    nats_server.start()
    store_dir = root / "artifacts"
    workers: list[Service] = []
    for replica in range(replicas):
        port = free_port()
        workers.append(
            Service(
                f"effects-{replica}",
                module,
                port,
                {
                    **os.environ,
                    "NATS_URL": nats_server.url,
                    "STORAGE_DIR": str(store_dir),
                    "HTTP_PORT": str(port),
                    "LOG_LEVEL": "WARNING",
                    **({"CONCURRENCY": str(concurrency)} if concurrency else {}),
                    **({"PER_ACCOUNT_CONCURRENCY": str(per_account)} if per_account else {}),
                },
                root / f"effects-{replica}.log",
            )
        )
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready(60)
        assert nats_server.process is not None
        yield BusStack(
            nats_server.url,
            store_dir,
            nats_server.process.pid,
            tuple(worker.pid for worker in workers),
        )
    finally:
        for worker in workers:
            worker.stop()
        nats_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--nats-sync", default="always")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="CONCURRENCY of the Cadenza effects worker (default: its default)",
    )
    parser.add_argument(
        "--per-account-concurrency",
        type=int,
        default=None,
        help="PER_ACCOUNT_CONCURRENCY of the Cadenza effects worker (default: its CONCURRENCY: "
        "every job here comes from one account, and Celery has no per-account limit)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=os.cpu_count() or 1,
        help="Cadenza effects worker processes sharing the durable consumer (default: one per "
        "core, as Celery's default prefork pool has)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternate the two stacks this many times (noise hits both)",
    )
    args = parser.parse_args()
    concurrency = args.concurrency or EffectsSettings.model_fields["concurrency"].default
    per_account = args.per_account_concurrency or concurrency
    redis_server = ensure_redis()
    load_before = os.getloadavg()
    per_round = max(1, args.jobs // args.rounds)
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        clip = write_tone(root / "clip.wav", 1.0)
        port = free_port()
        redis = subprocess.Popen(
            [redis_server, "--port", str(port), "--dir", str(root)], stdout=subprocess.DEVNULL
        )
        try:
            wait_for_port(port, 20, "redis-server")
            # The bus round trip needs only the bus and the worker, as Celery needs only
            # Redis and its worker: no gateway, no PostgreSQL projection competing for CPU.
            with (
                bus_and_worker(
                    root, args.nats_sync, concurrency, per_account, args.replicas
                ) as stack,
                celery_worker(f"redis://127.0.0.1:{port}/0"),
            ):
                source = stored_clip(stack.store_dir, clip)
                cadenza_rounds, celery_rounds = [], []
                for _ in range(args.rounds):
                    settle_garbage()
                    cadenza_rounds.append(
                        asyncio.run(
                            cadenza_round(stack.nats_url, source, per_round, args.in_flight)
                        )
                    )
                    settle_garbage()
                    celery_rounds.append(
                        celery_round(clip, root / "celery-store", per_round, args.in_flight)
                    )
        finally:
            redis.terminate()
            redis.wait(10)
    cadenza = report(cadenza_rounds, per_round, args.in_flight)
    celery = report(celery_rounds, per_round, args.in_flight)

    def over(part: str, key: str) -> float:
        return round(float(cadenza[part][key]) / float(celery[part][key]), 3)

    ratio = {
        "p50": over("sequential", "p50_ms"),
        "p99": over("sequential", "p99_ms"),
        "throughput": over("concurrent", "jobs_per_s"),
        "in_flight_p50": over("concurrent", "p50_ms"),
        "in_flight_p99": over("concurrent", "p99_ms"),
        # Each round's throughputs side by side: on a shared machine a burst of other work
        # lands in one round of one stack, and the median of the rounds' ratios shrugs it off.
        "throughput_median_of_rounds": round(
            statistics.median(
                celery_wall / cadenza_wall  # the same jobs: the ratio of the throughputs
                for (*_, cadenza_wall), (*_, celery_wall) in zip(
                    cadenza_rounds, celery_rounds, strict=True
                )
            ),
            3,
        ),
    }
    save(
        "vs_celery",
        {
            "jobs_each": per_round * args.rounds,
            "rounds": args.rounds,
            "nats_sync_interval": args.nats_sync,
            "cadenza_worker_concurrency": concurrency,
            "cadenza_per_account_concurrency": per_account,
            "cadenza_worker_processes": args.replicas,
            # The machine may be shared: its load (1-minute average) before and after.
            "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "cadenza_bus": cadenza,
            "celery_redis": celery,
            "ratio_cadenza_over_celery": ratio,
            "target": "one at a time no slower at p50 and p99 (ratio ≤ 1); with jobs in flight "
            "throughput ≥ 1.25× Celery's and p99 no worse (in_flight_p99 ≤ 1)",
        },
    )


if __name__ == "__main__":
    main()
