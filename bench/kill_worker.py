"""kill -9 the worker, again and again, under a load of jobs: Cadenza (JetStream + the
effects worker, its defaults) against the seeds' Celery + Redis (default settings), the
same job (an effects chain over a 20 s clip, output committed to the local store), the
same kills, the same run. Counts what each loses and what it does twice.

    .venv/bin/python -m bench.kill_worker [--jobs 200] [--kills 5] [--every 2.0]

Both workers run two jobs at once (Celery's default is one process per core: 2 here;
Cadenza's CONCURRENCY is set to 2 to match). A kill is SIGKILL to the worker's whole
process group, as when a container dies. "Lost": no outcome within --drain seconds after
the last kill (Celery's Redis transport only re-queues unacknowledged tasks after its
one-hour visibility timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg

from bench.common import save
from bench.vs_celery import ensure_redis, stored_clip
from cadenza.contracts import EffectsRequested
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.platform import WORKERS
from cadenza.devstack.ports import free_port, wait_for_port
from cadenza.devstack.testing import write_tone

CHAIN = [
    {"type": "compressor", "threshold_db": -20, "ratio": 3},
    {"type": "reverb", "room_size": 0.6},
    {"type": "chorus"},
    {"type": "gain", "gain_db": -3},
]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


async def cadenza(
    root: Path, clip: Path, jobs: int, kills: int, every: float, drain: float
) -> dict[str, Any]:
    server = NatsServer(root / "nats", sync_interval="always")
    server.start()
    store = root / "cadenza-store"
    (store / ".tmp").mkdir(parents=True)
    source = stored_clip(store, clip, 20.0)
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": server.url,
        "STORAGE_DIR": str(store),
        "HTTP_PORT": str(port),
        "CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
    }
    log = root / "cadenza-worker.log"

    def start() -> subprocess.Popen[bytes]:
        process = _spawn([sys.executable, "-m", WORKERS["effects"]], env, log)
        wait_for_port(port, 60, "effects worker")
        return process

    worker = start()
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    outcomes: Counter[str] = Counter()
    done = asyncio.Event()
    ids: set[str] = set()

    async def outcome(msg: Msg) -> None:
        job = json.loads(msg.data)["job_id"]
        if job in ids:
            outcomes[job] += 1
            if len(outcomes) == jobs:
                done.set()

    await nc.subscribe("effects.completed", cb=outcome)
    await nc.subscribe("effects.failed", cb=outcome)
    started = time.monotonic()
    for _ in range(jobs):
        command = EffectsRequested(
            job_id=uuid.uuid4(),
            owner="bench",
            correlation_id=uuid.uuid4(),
            input=source,
            chain=CHAIN,
        )
        ids.add(str(command.job_id))
        await js.publish(
            command.subject,
            command.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(command.event_id)},
        )
    for _ in range(kills):
        await asyncio.sleep(every)
        _kill_group(worker)
        worker = start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), drain)
    took = time.monotonic() - started
    # Outcomes as recorded (the stream), not as heard: the stream keeps each job's fact once.
    recorded: Counter[str] = Counter()
    sub = await js.subscribe("effects.completed", ordered_consumer=True)
    info = await js.stream_info("EFFECTS")
    seen = 0
    while seen < info.state.messages:
        try:
            msg = await sub.next_msg(timeout=2)
        except Exception:
            break
        seen = msg.metadata.sequence.stream
        recorded[json.loads(msg.data)["job_id"]] += 1
        if msg.metadata.num_pending == 0:
            break
    await nc.close()
    _kill_group(worker)
    server.stop()
    return {
        "jobs": jobs,
        "completed": len(recorded),
        "lost": jobs - len(outcomes),
        "duplicated": sum(1 for n in recorded.values() if n > 1),
        "seconds_until_all_done": round(took, 1) if len(outcomes) == jobs else None,
    }


def celery(
    root: Path, clip: Path, jobs: int, kills: int, every: float, drain: float
) -> dict[str, Any]:
    redis_port = free_port()
    redis = subprocess.Popen(
        [ensure_redis(), "--port", str(redis_port), "--dir", str(root)], stdout=subprocess.DEVNULL
    )
    wait_for_port(redis_port, 20, "redis-server")
    url = f"redis://127.0.0.1:{redis_port}/0"
    os.environ["CELERY_REDIS_URL"] = url
    from bench.celery_app import app, apply_effects_counted

    env = {**os.environ, "CELERY_REDIS_URL": url}
    log = root / "celery-worker.log"

    def start() -> subprocess.Popen[bytes]:
        process = _spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.celery_app",
                "worker",
                "--loglevel=WARNING",
            ],
            env,
            log,
        )
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise RuntimeError("the celery worker did not start")
        return process

    ledger = root / "celery-ledger.txt"
    worker = start()
    started = time.monotonic()
    results = [
        apply_effects_counted.apply_async(
            (
                str(clip),
                str(root / "celery-store"),
                f"bench/{uuid.uuid4()}/processed.wav",
                CHAIN,
                str(ledger),
            )
        )
        for _ in range(jobs)
    ]
    for _ in range(kills):
        time.sleep(every)
        _kill_group(worker)
        worker = start()
    deadline = time.monotonic() + drain
    while time.monotonic() < deadline and not all(r.ready() for r in results):
        time.sleep(0.5)
    ready = sum(1 for r in results if r.ready())
    took = time.monotonic() - started
    executions = Counter(ledger.read_text().split()) if ledger.exists() else Counter()
    completed = sum(1 for r in results if r.successful())
    _kill_group(worker)
    redis.terminate()
    redis.wait(10)
    return {
        "jobs": jobs,
        "completed": completed,
        "lost": jobs - ready,
        "duplicated": sum(1 for n in executions.values() if n > 1),
        "seconds_until_all_done": round(took, 1) if ready == jobs else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--drain", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cadenza-kill-") as tmp:
        root = Path(tmp)
        clip = write_tone(root / "clip.wav", 20.0)
        ours = asyncio.run(cadenza(root, clip, args.jobs, args.kills, args.every, args.drain))
        theirs = celery(root, clip, args.jobs, args.kills, args.every, args.drain)
    save(
        "kill_worker",
        {
            "jobs": args.jobs,
            "kills": args.kills,
            "kill_every_s": args.every,
            "drain_s": args.drain,
            "cadenza_jetstream": ours,
            "celery_redis_defaults": theirs,
            "target": "Cadenza: lost 0, duplicated 0",
        },
    )


if __name__ == "__main__":
    main()
