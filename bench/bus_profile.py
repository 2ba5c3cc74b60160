"""Where a bus round trip's time goes (bench.vs_celery's tiny job), counted per job.

    .venv/bin/python -m bench.bus_profile [--jobs 400] [--in-flight 16]

The stack of bench.vs_celery (nats-server with `sync_interval: always`, one effects worker
with its defaults but PER_ACCOUNT_CONCURRENCY = CONCURRENCY), `--jobs` jobs with
`--in-flight` at a time, three times:
1. plain: CPU milliseconds per job of nats-server, the worker's event loop, the worker's
   other threads (the audio work and the store's fsyncs) and the client;
2. the worker's event loop under cProfile (bench.profiled_worker): per job, publishes,
   fetches, acks, pydantic validations and dumps, event-loop iterations, callbacks, tasks,
   timers, thread hops and socket calls (call counts, not the profiler's inflated times);
3. nats-server under `strace -c -f`: per job, fsyncs and the writes and reads behind them.
Then Celery on Redis with the same job: CPU milliseconds per job of each of its processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pstats
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from bench.common import save
from bench.vs_celery import (
    CadenzaClient,
    bus_and_worker,
    celery_round,
    celery_worker,
    ensure_redis,
    stored_clip,
)
from cadenza.devstack.ports import free_port, wait_for_port
from cadenza.devstack.testing import write_tone

# What to count in the event loop's profile: label → (file suffix, function name or a
# fragment of a built-in's name[, the file suffix of a caller it must have]).
COUNTED: dict[str, tuple[str, ...]] = {
    # cProfile counts a coroutine once more each time it resumes: where a coroutine waits
    # (a publish for its PubAck, a fetch for its message), a plain function called once for
    # each is counted instead.
    "JetStream publishes (PubAcks parsed)": ("nats/js/api.py", "from_response", "js/client.py"),
    "core NATS publishes (the fact's, pull requests, acks)": ("nats/aio/client.py", "publish"),
    "pull requests (their JSON bodies)": ("json/__init__.py", "dumps"),
    "acks": ("nats/aio/msg.py", "ack"),
    "pydantic validations (validate_python)": ("~", "'validate_python'"),
    "pydantic validations (validate_json)": ("~", "'validate_json'"),
    "pydantic JSON dumps": ("~", "'to_json'"),
    "event-loop iterations": ("asyncio/base_events.py", "_run_once"),
    "callbacks run by the loop": ("asyncio/events.py", "_run"),
    "tasks created": ("asyncio/base_events.py", "create_task"),
    "timers (call_at)": ("asyncio/base_events.py", "call_at"),
    "thread hops (run_in_executor)": ("asyncio/base_events.py", "run_in_executor"),
    # A coroutine that waits once: each hop counts twice.
    "thread hops (anyio.to_thread, counted twice)": ("anyio/to_thread.py", "run_sync"),
    "socket sends": ("~", "'send' of '_socket.socket'"),
    "socket receives": ("~", "'recv' of '_socket.socket'"),
    "heap trims asked (release_free_memory)": ("runtime/heap.py", "release_free_memory"),
}
TRACED = "fsync,fdatasync,pwrite64,write,writev,read"


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def minor_faults(pid: int) -> int:
    """The process's minor page faults so far (Linux: /proc/<pid>/stat, field 10)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[7])


def threads_s(process: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in process.threads()}


async def in_flight(client: CadenzaClient, jobs: int, at_once: int) -> float:
    semaphore = asyncio.Semaphore(at_once)

    async def one() -> float:
        async with semaphore:
            return await client.run()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(jobs)))
    return time.perf_counter() - started


def profile_counts(stats_file: Path, jobs: int) -> dict[str, float]:
    stats: dict[tuple[str, int, str], Any] = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    counts: dict[str, float] = {}
    for label, (where, name, *called_from) in COUNTED.items():
        calls = sum(
            value[1]
            for (file, _, function), value in stats.items()
            if file.endswith(where)
            and (function == name or (where == "~" and name in function))
            and all(any(c[0].endswith(f) for c in value[4]) for f in called_from)
        )
        counts[label] = round(calls / jobs, 2)
    return counts


def strace_counts(table: str, jobs: int) -> dict[str, float]:
    """`strace -c`'s table → calls per job of each traced system call."""
    counts: dict[str, float] = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[-1] in TRACED.split(",") and fields[3].isdigit():
            counts[fields[-1]] = round(int(fields[3]) / jobs, 2)
    return counts


@contextlib.contextmanager
def strace(pid: int, out: Path) -> Iterator[None]:
    tracer = subprocess.Popen(
        ["strace", "-c", "-f", "-e", f"trace={TRACED}", "-o", str(out), "-p", str(pid)],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached
    try:
        yield
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)


def cadenza_passes(root: Path, clip: Path, jobs: int, at_once: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    os.environ["PROFILE_OUT"] = str(root / "loop.pstats")
    with bus_and_worker(root, "always", None, 2, module="bench.profiled_worker") as stack:
        url, store_dir, nats_pid = stack.nats_url, stack.store_dir, stack.nats_pid
        (worker_pid,) = stack.worker_pids
        source = stored_clip(store_dir, clip)
        nats_server, worker, client = (
            psutil.Process(nats_pid),
            psutil.Process(worker_pid),
            psutil.Process(),
        )

        async def passes() -> None:
            async with CadenzaClient(url, source) as bus_client:
                await in_flight(bus_client, 50, at_once)  # warm-up
                # 1. plain
                before = {p: cpu_s(p) for p in (nats_server, worker, client)}
                before_threads = threads_s(worker)
                faults_before = minor_faults(worker_pid)
                wall = await in_flight(bus_client, jobs, at_once)
                faults = minor_faults(worker_pid) - faults_before
                after_threads = threads_s(worker)
                spent = {p: (cpu_s(p) - before[p]) * 1000 / jobs for p in before}
                loop_ms = (after_threads[worker_pid] - before_threads[worker_pid]) * 1000 / jobs
                result["jobs_per_s"] = round(jobs / wall, 1)
                result["cpu_ms_per_job"] = {
                    "nats-server": round(spent[nats_server], 3),
                    "worker: event loop": round(loop_ms, 3),
                    "worker: other threads (the work, fsyncs)": round(spent[worker] - loop_ms, 3),
                    "client": round(spent[client], 3),
                }
                # Pages the worker faulted in (a heap handed back and asked for again).
                result["worker_minor_page_faults_per_job"] = round(faults / jobs, 1)
                # 2. the event loop under cProfile
                worker.send_signal(signal.SIGUSR2)
                await asyncio.sleep(0.5)
                await in_flight(bus_client, jobs, at_once)
                worker.send_signal(signal.SIGUSR2)
                stats = Path(os.environ["PROFILE_OUT"])
                for _ in range(100):
                    if await asyncio.to_thread(stats.exists):
                        break
                    await asyncio.sleep(0.1)
                result["worker_event_loop_per_job"] = profile_counts(stats, jobs)
                # 3. nats-server's system calls
                if shutil.which("strace"):
                    with strace(nats_pid, root / "strace.txt"):
                        await in_flight(bus_client, jobs, at_once)
                    table = (root / "strace.txt").read_text()
                    result["nats_server_syscalls_per_job"] = strace_counts(table, jobs)

        asyncio.run(passes())
    return result


def celery_pass(root: Path, clip: Path, jobs: int, at_once: int) -> dict[str, Any]:
    port = free_port()
    redis = subprocess.Popen(
        [ensure_redis(), "--port", str(port), "--dir", str(root)], stdout=subprocess.DEVNULL
    )
    me = psutil.Process()
    try:
        wait_for_port(port, 20, "redis-server")
        with celery_worker(f"redis://127.0.0.1:{port}/0"):
            celery_round(clip, root / "celery-store", 20, at_once)  # warm-up
            names = {me: "client"}
            for p in me.children(recursive=True):
                if "redis" in p.name():
                    names[p] = "redis-server"
                else:
                    names[p] = "celery main" if p.ppid() == me.pid else "celery pool process"
            before = {p: cpu_s(p) for p in names}
            _, _, wall = celery_round(clip, root / "celery-store", jobs, at_once)
            spent = {p: (cpu_s(p) - before[p]) * 1000 / (2 * jobs) for p in names}
    finally:
        redis.terminate()
        redis.wait(10)
    named: dict[str, list[float]] = {}
    for p, ms in spent.items():
        named.setdefault(names[p], []).append(round(ms, 3))
    return {"jobs_per_s": round(jobs / wall, 1), "cpu_ms_per_job": named}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument(
        "--keep-profile",
        type=Path,
        default=None,
        help="copy the event loop's cProfile stats (pstats format) here, to read further",
    )
    parser.add_argument(
        "--celery", action=argparse.BooleanOptionalAction, default=True, help="measure Celery too"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cadenza-profile-") as tmp:
        root = Path(tmp)
        clip = write_tone(root / "clip.wav", 1.0)
        cadenza = cadenza_passes(root, clip, args.jobs, args.in_flight)
        if args.keep_profile is not None:
            shutil.copyfile(root / "loop.pstats", args.keep_profile)
        celery = celery_pass(root, clip, args.jobs, args.in_flight) if args.celery else None
    save(
        "bus_profile",
        {
            "jobs": args.jobs,
            "in_flight": args.in_flight,
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "cadenza_bus": cadenza,
            "celery_redis": celery,
            "note": "Celery's CPU is per job over both of celery_round's passes (one at a "
            "time, then in flight)",
        },
    )


if __name__ == "__main__":
    main()
