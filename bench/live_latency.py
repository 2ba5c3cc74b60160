"""Live effects latency: audio blocks through WS /api/v1/live (gateway → core NATS → effects
worker → back), streamed in real time, paced at the block duration as a sound card hands
them over. 48 kHz stereo float32 throughout.

1. In-process: `LiveSession.process` per block (decode, plugins, encode), the worker's own
   audio work, for a 3-plugin chain (gain, reverb, delay) and a trivial one (gain 0 dB).
2. One session at a time, 10 ms (480 frames) and 20 ms (960 frames) blocks: the per-block
   round trip with the 3-plugin chain against the trivial chain through the same path, in
   alternating rounds of the same run. Targets: the round trip well under one block; the
   chain adds at most 5 ms at p99.
3. N sessions at once on ONE effects worker (one process, one event loop), 3-plugin chain,
   each paced at the block duration, at 10 and 20 ms blocks: through the gateway over
   WebSockets (the whole platform on this machine's cores), and straight to the worker over
   core NATS (the benchmark plays the gateway's part) with the worker pinned alone to one
   core and everything else of ours to the other(s), so that the worker's count is its own
   core's. An underrun is a processed block that arrives after its deadline: the time the
   client began to send it plus one block duration (a one-block jitter buffer on the way
   back); a block that never comes back is one too. The client's own lateness in sending
   (its timer, its share of the cores) is reported apart, as the send lag. Target: ≥ 32
   sessions per worker core without an underrun. Straight to the worker, the worker runs
   with LIVE_TIMING on and stamps each block with when it began and finished it (one host,
   one monotonic clock), so each late block is put where it lost most of its time: on its
   way to the worker (the client's send, nats-server, the wait in the worker's queue), in
   the worker (the chain takes ~0.1 ms: more means its CPU was taken away), or on its way
   back; and the blocks that took the worker over 1 ms are counted.

Every WebSocket client offers permessage-deflate, as browsers do; the gateway declines it
(audio does not compress; deflating it doubled the CPU per block), and each session checks
that it was declined. Before the platform starts, the benchmark also times a full garbage
collection of the effects worker's start-up heap, before and after freezing it (what the
worker does once it has started: cadenza.runtime.heap).

The clients (uvloop; websockets or nats-py; one connection per WebSocket session), the
gateway, nats-server and the worker share this machine's cores: each step reports the CPU
each process used, the worker's CPU per block, what else ran on the machine meanwhile, and
the CPU time the hypervisor took (steal). On a virtual machine whose idle virtual CPUs take
milliseconds to wake when a message arrives, `--awake` keeps every CPU busy at nice 19, which
shows the platform without that; run it both ways (on this VM, once the benchmark's own stalls
were gone, the awake runs were no better: docs/benchmarks.md).

    .venv/bin/python -m bench.live_latency [--rounds 4] [--round-seconds 2] [--seconds 3]
        [--sweep gateway:480:8,16,24,32,48,64 direct:480:16,24,32,48,64 …] [--awake]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import numpy as np
import uvloop
import websockets
from nats.aio.client import Client
from nats.aio.msg import Msg
from websockets.asyncio.client import ClientConnection

from bench.common import percentile, running_platform, save, summary_ms
from cadenza.contracts.live import (
    KIND_HEADER,
    OPEN_SUBJECT,
    SEQ_HEADER,
    TIMING_HEADER,
    LiveOpen,
    LiveOpened,
    session_in,
    session_out,
)
from cadenza.devstack.platform import Platform
from cadenza.effects.live_session import LiveSession

RATE = 48000
CHANNELS = 2
TRIVIAL: list[dict[str, Any]] = [{"type": "gain", "gain_db": 0.0}]
CHAIN: list[dict[str, Any]] = [
    {"type": "gain", "gain_db": -3.0},
    {"type": "reverb", "room_size": 0.7, "wet_level": 0.3},
    {"type": "delay", "delay_seconds": 0.05, "feedback": 0.3, "mix": 0.4},
]
WARMUP_BLOCKS = 50  # per session and step, sent and received before anything is counted
RECEIVE_GRACE_S = 3.0  # after the last send, how long the rest may take to come back
SWEEPS = [
    "gateway:480:8,16,24,32,48,64",
    "direct:480:16,24,32,32,32,48,64",
    "gateway:960:16,32,48",
    "direct:960:32,48,64,80",
]
ENV = {
    "WORKERS": "effects",
    "LIVE_SESSIONS_PER_PRINCIPAL": "256",  # every session is the dev principal's (default 4)
    "LIVE_MAX_SESSIONS": "256",  # per worker (default 64)
    "LIVE_TIMING": "1",  # the worker stamps each block with its own times (TIMING_HEADER)
}
SLOW_IN_WORKER_S = 0.001  # the chain takes ~0.1 ms of a block: 1 ms means the CPU was away


@functools.cache
def audio_blocks(frames: int, count: int = 64) -> list[bytes]:
    """`count` distinct blocks of a tone with noise, interleaved little-endian float32."""
    rng = np.random.default_rng(0)
    t = np.arange(frames * count) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 330 * t)
    audio = np.stack([tone + 0.05 * rng.standard_normal(t.size) for _ in range(CHANNELS)])
    interleaved = np.ascontiguousarray(audio.T, dtype="<f4")
    return [interleaved[i * frames : (i + 1) * frames].tobytes() for i in range(count)]


def fmt(frames: int) -> dict[str, Any]:
    return {
        "sample_rate": RATE,
        "channels": CHANNELS,
        "block_frames": frames,
        "sample_format": "float32",
    }


# --- 1. in-process --------------------------------------------------------------------------


def in_process(frames: int, blocks: int) -> dict[str, Any]:
    """Seconds per `LiveSession.process`, both chains interleaved block by block."""
    data = audio_blocks(frames)
    chains = {"trivial": TRIVIAL, "chain3": CHAIN}
    sessions = {
        name: LiveSession(
            LiveOpen.model_validate(
                {"session_id": uuid.uuid4(), "owner": "bench", "chain": c, "format": fmt(frames)}
            )
        )
        for name, c in chains.items()
    }
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for i in range(WARMUP_BLOCKS + blocks):
        for name, session in sessions.items():
            started = time.perf_counter()
            session.process(data[i % len(data)])
            if i >= WARMUP_BLOCKS:
                times[name].append(time.perf_counter() - started)
    result: dict[str, Any] = {name: summary_us(t) for name, t in times.items()}
    result["added_p50_us"] = round(result["chain3"]["p50_us"] - result["trivial"]["p50_us"], 1)
    result["added_p99_us"] = round(result["chain3"]["p99_us"] - result["trivial"]["p99_us"], 1)
    return result


def summary_us(seconds: list[float]) -> dict[str, float]:
    us = [v * 1e6 for v in seconds]
    return {
        "n": len(us),
        "p50_us": round(percentile(us, 50), 1),
        "p99_us": round(percentile(us, 99), 1),
        "mean_us": round(statistics.fmean(us), 1),
    }


# --- the clients ----------------------------------------------------------------------------


@dataclass
class Played:
    """One session's counted blocks."""

    latencies: list[float] = field(default_factory=list)  # received − actually sent
    lags: list[float] = field(default_factory=list)  # sent − scheduled (the client's lateness)
    underruns: int = 0  # received more than one block after it was sent, or never
    lost: int = 0  # never received (the session ended, or not within RECEIVE_GRACE_S)
    # Where each late block lost its time, by the worker's own stamps (straight to the
    # worker only): the larger of to/in/back; and blocks the worker took over 1 ms for.
    late_where: dict[str, int] = field(default_factory=dict)
    slow_in_worker: int = 0
    error: str | None = None


class Stream(ABC):
    """One live session played like a sound card: block i is handed over at start + i × block
    (never earlier); the time each processed block comes back is recorded."""

    def __init__(self, frames: int) -> None:
        self.block_s = frames / RATE
        self.data = audio_blocks(frames)
        self.received: list[float] = []
        self.worker_times: list[tuple[float, float]] = []  # with LIVE_TIMING, in order
        self.expected = 0
        self.all_back = asyncio.Event()
        self.error: str | None = None

    @abstractmethod
    async def send(self, block: bytes) -> None:
        """Hand one block to the platform (WebSocketStream, NatsStream)."""

    def arrived(self) -> None:
        self.received.append(time.perf_counter())
        if len(self.received) >= self.expected:
            self.all_back.set()

    def failed(self, error: str) -> None:
        self.error = self.error or error
        self.all_back.set()

    async def play(self, start: float, count: int, warmup: int = 0) -> Played:
        total = warmup + count
        self.received, self.expected, self.worker_times = [], total, []
        self.all_back.clear()
        sent = [0.0] * total
        played = Played()
        try:
            for i in range(total):
                delay = start + i * self.block_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[i] = time.perf_counter()
                await self.send(self.data[i % len(self.data)])
            await asyncio.wait_for(self.all_back.wait(), RECEIVE_GRACE_S)
        except TimeoutError:
            self.failed(f"{total - len(self.received)} blocks not back {RECEIVE_GRACE_S:g} s on")
        except websockets.ConnectionClosed as e:
            self.failed(f"closed: {e}")
        played.error = self.error
        received = self.received[:total]
        for i in range(warmup, total):
            scheduled = start + i * self.block_s
            if i >= len(received):
                played.lost += 1
                played.underruns += 1
                continue
            played.latencies.append(received[i] - sent[i])
            played.lags.append(sent[i] - scheduled)
            began, finished = self.worker_times[i] if i < len(self.worker_times) else (0.0, 0.0)
            if finished - began > SLOW_IN_WORKER_S:
                played.slow_in_worker += 1
            if received[i] - sent[i] > self.block_s:
                played.underruns += 1
                if finished:
                    parts = {
                        "to the worker": began - sent[i],
                        "in the worker": finished - began,
                        "back": received[i] - finished,
                    }
                    where = max(parts, key=lambda k: parts[k])
                    played.late_where[where] = played.late_where.get(where, 0) + 1
        return played


class WebSocketStream(Stream):
    """A session through the gateway: WS /api/v1/live."""

    def __init__(self, ws: ClientConnection, frames: int) -> None:
        super().__init__(frames)
        self.ws = ws
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, chain: list[dict[str, Any]], frames: int) -> WebSocketStream:
        ws = await websockets.connect(url, max_size=None, compression="deflate")
        if ws.response is not None and "Sec-WebSocket-Extensions" in ws.response.headers:
            raise RuntimeError("the gateway negotiated a WebSocket extension for live audio")
        await ws.send(json.dumps({"type": "open", "chain": chain, "format": fmt(frames)}))
        ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if ready.get("type") != "ready":
            raise RuntimeError(f"the session did not open: {ready}")
        return cls(ws, frames)

    async def send(self, block: bytes) -> None:
        await self.ws.send(block)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    self.failed(f"the session ended: {message[:200]}")
                    return
                self.arrived()
        except websockets.ConnectionClosed as e:
            self.failed(f"closed: {e}")

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


class NatsStream(Stream):
    """A session straight to the worker over core NATS: what the gateway does, without the
    WebSocket (cadenza.contracts.live)."""

    def __init__(self, nc: Client, frames: int) -> None:
        super().__init__(frames)
        self.nc = nc
        self.id = uuid.uuid4()
        self.inbox = session_in(self.id)
        self.seq = 0
        self.sub: Any = None

    @classmethod
    async def open(cls, nc: Client, chain: list[dict[str, Any]], frames: int) -> NatsStream:
        stream = cls(nc, frames)
        stream.sub = await nc.subscribe(session_out(stream.id), cb=stream._on_message)
        ask = LiveOpen.model_validate(
            {"session_id": stream.id, "owner": "bench", "chain": chain, "format": fmt(frames)}
        )
        reply = await nc.request(OPEN_SUBJECT, ask.model_dump_json().encode(), timeout=5)
        opened = LiveOpened.model_validate_json(reply.data)
        if not opened.ok:
            raise RuntimeError(f"the session did not open: {opened.reason}")
        return stream

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers or {}
        if headers.get(KIND_HEADER, "audio") == "audio":
            if TIMING_HEADER in headers:
                began, finished = headers[TIMING_HEADER].split(",")
                self.worker_times.append((float(began), float(finished)))
            self.arrived()
        else:
            self.failed(f"the worker closed the session: {msg.data[:200]!r}")

    async def send(self, block: bytes) -> None:
        self.seq += 1
        await self.nc.publish(
            self.inbox, block, headers={KIND_HEADER: "audio", SEQ_HEADER: str(self.seq)}
        )

    async def close(self) -> None:
        await self.nc.publish(self.inbox, b"", headers={KIND_HEADER: "close"})
        await self.sub.unsubscribe()


def live_url(platform: Platform) -> str:
    return platform.url.replace("http://", "ws://") + "/api/v1/live"


# --- CPU and the worker's own histogram -----------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def machine_cpu_s() -> tuple[float, float]:
    """CPU seconds the whole machine (all cores) spent busy, and those the hypervisor took
    from this VM (steal), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    busy: float
    steal: float
    histogram: dict[str, float]


class Meter:
    """CPU seconds of each process, of the whole machine, and the worker's block histogram
    (cadenza_live_block_seconds), over one step."""

    def __init__(self, platform: Platform, spinners: list[int]) -> None:
        assert platform.nats.process is not None
        self.pids = {
            "client": os.getpid(),
            "gateway": platform.services["gateway"].pid,
            "nats": platform.nats.process.pid,
            "worker": platform.services["effects"].pid,
        }
        self.spinners = spinners
        self.metrics_url = f"http://127.0.0.1:{platform.services['effects'].port}/metrics"

    def snapshot(self) -> Snapshot:
        text = httpx.get(self.metrics_url, timeout=5).text
        pattern = r'^cadenza_live_block_seconds_(bucket\{le="[^"]+"\}|sum|count) (\S+)$'
        histogram = {
            m.group(1).removeprefix('bucket{le="').removesuffix('"}'): float(m.group(2))
            for m in re.finditer(pattern, text, re.MULTILINE)
        }
        cpu = {name: cpu_s(pid) for name, pid in self.pids.items()}
        busy, steal = machine_cpu_s()
        busy -= sum(cpu_s(pid) for pid in self.spinners)  # not load: they only keep CPUs awake
        return Snapshot(time.perf_counter(), cpu, busy, steal, histogram)

    @staticmethod
    def delta(before: Snapshot, after: Snapshot) -> dict[str, Any]:
        wall = after.at - before.at
        used = {name: after.cpu[name] - before.cpu[name] for name in after.cpu}
        hist = {k: after.histogram[k] - before.histogram.get(k, 0.0) for k in after.histogram}
        others = after.busy - before.busy - sum(used.values())
        count, total = hist.pop("count", 0.0), hist.pop("sum", 0.0)
        per_block = used["worker"] / count if count else None
        buckets = sorted(((float(le), n) for le, n in hist.items()), key=lambda b: b[0])
        p99_le = next((le for le, n in buckets if n >= 0.99 * count), float("inf"))
        return {
            "cores_used": {name: round(v / wall, 2) for name, v in used.items()},
            "others_cores": round(max(0.0, others) / wall, 2),
            "steal_cores": round((after.steal - before.steal) / wall, 2),
            "worker_blocks": int(count),
            "worker_cpu_us_per_block": round(per_block * 1e6) if per_block else None,
            "worker_process_mean_us": round(total / count * 1e6, 1) if count else None,
            "worker_process_p99_le_ms": None if p99_le == float("inf") else p99_le * 1000,
        }


async def settle(meter: Meter, timeout_s: float = 15.0) -> None:
    """Wait until the worker holds no session and has stopped processing blocks: after an
    overloaded step, blocks queued in the worker and the gateway take a while to drain."""
    deadline = time.monotonic() + timeout_s
    last = -1.0
    while time.monotonic() < deadline:
        text = (await asyncio.to_thread(httpx.get, meter.metrics_url, timeout=5)).text
        sessions = re.search(r"^cadenza_live_sessions (\S+)$", text, re.MULTILINE)
        count = re.search(r"^cadenza_live_block_seconds_count (\S+)$", text, re.MULTILINE)
        now = float(count.group(1)) if count else 0.0
        if sessions and float(sessions.group(1)) == 0 and now == last:
            return
        last = now
        await asyncio.sleep(0.25)


# --- 2. one session at a time ---------------------------------------------------------------


async def single(
    platform: Platform, meter: Meter, frames: int, rounds: int, round_seconds: float
) -> dict[str, Any]:
    url = live_url(platform)
    streams = {
        "trivial": await WebSocketStream.open(url, TRIVIAL, frames),
        "chain3": await WebSocketStream.open(url, CHAIN, frames),
    }
    block_s = frames / RATE
    count = round(round_seconds / block_s)
    latencies: dict[str, list[float]] = {name: [] for name in streams}
    underruns = dict.fromkeys(streams, 0)
    try:
        for stream in streams.values():
            await stream.play(time.perf_counter(), WARMUP_BLOCKS)
        before = meter.snapshot()
        for _ in range(rounds):
            for name, stream in streams.items():
                played = await stream.play(time.perf_counter() + 0.01, count)
                if played.error:
                    raise RuntimeError(f"{name}: {played.error}")
                latencies[name] += played.latencies
                underruns[name] += played.underruns
        measured = Meter.delta(before, meter.snapshot())
    finally:
        for stream in streams.values():
            await stream.close()
    result: dict[str, Any] = {"block_frames": frames, "block_ms": round(block_s * 1000, 3)}
    for name in streams:
        result[name] = {**summary_ms(latencies[name]), "underruns": underruns[name]}
    chain3, trivial = result["chain3"], result["trivial"]
    result["added_p50_ms"] = round(chain3["p50_ms"] - trivial["p50_ms"], 2)
    result["added_p99_ms"] = round(chain3["p99_ms"] - trivial["p99_ms"], 2)
    result["chain3_p99_share_of_block"] = round(chain3["p99_ms"] / (block_s * 1000), 3)
    result["all_three"] = measured
    return result


# --- 3. N sessions at once ------------------------------------------------------------------


async def concurrent(
    streams: list[Stream], meter: Meter, block_s: float, seconds: float
) -> dict[str, Any]:
    sessions = len(streams)
    count = round(seconds / block_s)
    # The CPU and the worker's histogram are read before the warm-up and after the last
    # block, never while blocks flow: reading them mid-stream (a blocking HTTP request in
    # this process, the worker rendering its metrics) once made a burst of late blocks.
    # The warm-up blocks are in the CPU figures, counted in the worker's blocks alike.
    before = meter.snapshot()
    # Sound cards are not in step: session k starts k/N of a block after the first.
    t0 = time.perf_counter() + 0.05
    played: list[Played] = await asyncio.gather(
        *(s.play(t0 + k * block_s / sessions, count, WARMUP_BLOCKS) for k, s in enumerate(streams))
    )
    measured = Meter.delta(before, meter.snapshot())
    latencies = [v for p in played for v in p.latencies]
    lags = [v for p in played for v in p.lags]
    errors = sorted({p.error for p in played if p.error})
    return {
        "sessions": sessions,
        "blocks": sessions * count,
        "underruns": sum(p.underruns for p in played),
        "sessions_with_underruns": sum(1 for p in played if p.underruns),
        "lost": sum(p.lost for p in played),
        "late_where": {
            where: sum(p.late_where.get(where, 0) for p in played)
            for where in sorted({w for p in played for w in p.late_where})
        },
        "blocks_over_1ms_in_worker": sum(p.slow_in_worker for p in played),
        **(summary_ms(latencies) if latencies else {}),
        "send_lag_p99_ms": round(percentile(lags, 99) * 1000, 2) if lags else None,
        **measured,
        # What one core would hold at this CPU per block, run flat out (an estimate).
        "worker_core_sessions_at_100pct": round(block_s * 1e6 / measured["worker_cpu_us_per_block"])
        if measured["worker_cpu_us_per_block"]
        else None,
        "errors": errors[:3],
    }


async def through_gateway(
    platform: Platform, meter: Meter, frames: int, sessions: int, seconds: float
) -> dict[str, Any]:
    url = live_url(platform)
    streams: list[WebSocketStream] = []
    try:
        for i in range(0, sessions, 16):
            streams += await asyncio.gather(
                *(WebSocketStream.open(url, CHAIN, frames) for _ in range(min(16, sessions - i)))
            )
        return await concurrent(list(streams), meter, frames / RATE, seconds)
    finally:
        await asyncio.gather(*(s.close() for s in streams), return_exceptions=True)


async def straight_to_worker(
    platform: Platform, meter: Meter, frames: int, sessions: int, seconds: float
) -> dict[str, Any]:
    nc = await nats.connect(platform.nats.url)
    streams: list[NatsStream] = []
    try:
        streams += await asyncio.gather(
            *(NatsStream.open(nc, CHAIN, frames) for _ in range(sessions))
        )
        return await concurrent(list(streams), meter, frames / RATE, seconds)
    finally:
        await asyncio.gather(*(s.close() for s in streams), return_exceptions=True)
        await nc.drain()


def line(label: str, step: dict[str, Any]) -> str:
    cores = " ".join(f"{k} {v}" for k, v in step["cores_used"].items())
    return (
        f"{label}: underruns {step['underruns']}/{step['blocks']}, p50 {step.get('p50_ms')} "
        f"p99 {step.get('p99_ms')} max {step.get('max_ms')} ms; worker "
        f"{step['worker_cpu_us_per_block']} µs CPU/block; cores: {cores}, others "
        f"{step['others_cores']}, steal {step['steal_cores']}"
        + (f"; late blocks lost most time {where}" if (where := step["late_where"]) else "")
        + f"; {step['blocks_over_1ms_in_worker']} blocks took the worker over 1 ms"
        + (f" {' '.join(step['errors'])}" if step["errors"] else "")
    )


# --- the garbage collector ---------------------------------------------------------------

HEAP_PROBE = """
import gc, json, time
import cadenza.effects.__main__, cadenza.effects.app, cadenza.effects.live_server
from cadenza.runtime.heap import freeze_startup_heap

def full_ms():
    times = []
    for _ in range(5):
        t = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - t) * 1000)
    return round(sorted(times)[2], 3)

gc.collect()
objects = len(gc.get_objects())
before = full_ms()
freeze_startup_heap()
print(json.dumps({"objects": objects, "before_freeze_ms": before, "after_freeze_ms": full_ms()}))
"""


def worker_heap_collection() -> dict[str, Any]:
    """A full collection (median of 5) of what the effects worker's imports make, in a fresh
    process, before and after cadenza.runtime.heap.freeze_startup_heap."""
    done = subprocess.run(
        [sys.executable, "-c", HEAP_PROBE], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- main -----------------------------------------------------------------------------------


def parse_sweep(text: str) -> tuple[str, int, list[int]]:
    """ "gateway:480:8,16,32" → through the gateway, 480-frame blocks, 8, 16 and 32 sessions."""
    path, frames, counts = text.split(":")
    if path not in ("gateway", "direct"):
        raise argparse.ArgumentTypeError(f"{path}: gateway or direct")
    return path, int(frames), [int(n) for n in counts.split(",")]


async def measure(
    platform: Platform, args: argparse.Namespace, spinners: list[int]
) -> dict[str, Any]:
    meter = Meter(platform, spinners)
    results: dict[str, Any] = {"single": [], "sweeps": []}
    for frames in (480, 960):
        step = await single(platform, meter, frames, args.rounds, args.round_seconds)
        results["single"].append(step)
        print(
            f"one session, {frames} frames ({step['block_ms']:g} ms), p50/p99 ms: "
            + ", ".join(
                f"{name} {step[name]['p50_ms']}/{step[name]['p99_ms']}"
                for name in ("trivial", "chain3")
            )
            + f"; chain adds {step['added_p99_ms']} ms at p99",
            flush=True,
        )
    pinned = pinning(platform)
    for path, frames, counts in args.sweep:
        block_ms = frames / RATE * 1000
        sweep: dict[str, Any] = {"path": path, "block_frames": frames, "steps": []}
        if path == "direct" and pinned:
            sweep["pinned"] = pinned.describe()
        for n in counts:
            if path == "gateway":
                step = await through_gateway(platform, meter, frames, n, args.seconds)
            else:
                with pinned or contextlib.nullcontext():
                    step = await straight_to_worker(platform, meter, frames, n, args.seconds)
            sweep["steps"].append(step)
            label = "gateway" if path == "gateway" else "straight to the worker"
            print(line(f"{label}, {n:3d} × {block_ms:g} ms", step), flush=True)
            await settle(meter)
        clean = [s["sessions"] for s in sweep["steps"] if s["underruns"] == 0]
        sweep["largest_n_without_underruns"] = max(clean) if clean else 0
        results["sweeps"].append(sweep)
    return results


class Pinning:
    """The worker alone on the last core, everything else of ours (the clients, nats-server,
    the gateway) on the others: the worker's sessions measured on one core of its own."""

    def __init__(self, worker: int, rest: list[int], cpus: set[int]) -> None:
        self.worker, self.rest, self.cpus = worker, rest, cpus
        self.worker_cpus = {max(cpus)}
        self.rest_cpus = cpus - self.worker_cpus

    def describe(self) -> str:
        return f"worker on CPU {sorted(self.worker_cpus)}, the rest on {sorted(self.rest_cpus)}"

    @staticmethod
    def _set(pid: int, cpus: set[int]) -> None:
        for task in Path(f"/proc/{pid}/task").iterdir():  # every thread
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)

    def __enter__(self) -> None:
        self._set(self.worker, self.worker_cpus)
        for pid in self.rest:
            self._set(pid, self.rest_cpus)

    def __exit__(self, *_: object) -> None:
        for pid in [self.worker, *self.rest]:
            self._set(pid, self.cpus)


def pinning(platform: Platform) -> Pinning | None:
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        return None
    assert platform.nats.process is not None
    rest = [os.getpid(), platform.nats.process.pid, platform.services["gateway"].pid]
    return Pinning(platform.services["effects"].pid, rest, set(cpus))


SPIN = "import os, sys\nos.nice(19)\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


@contextlib.contextmanager
def cpus_awake(enabled: bool) -> Iterator[list[int]]:
    """With `--awake`, a busy loop at nice 19 on every CPU: the CPUs never go idle, so the
    hypervisor never has to wake a sleeping virtual CPU when a message arrives (on this VM
    that takes milliseconds). At nice 19 a loop gets ~1.5% of a CPU that anything else
    wants; its own CPU time is left out of the figures."""
    if not enabled:
        yield []
        return
    cpus = sorted(os.sched_getaffinity(0))
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN, str(cpu)]) for cpu in cpus]
    try:
        yield [p.pid for p in spinners]
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def run(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """On uvloop (as the gateway runs), with the client's garbage collector frozen: the
    client is the benchmark, and its pauses (tens of ms for a full collection of this
    process's heap) would otherwise show up as the platform's latency."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return uvloop.run(coroutine)
    finally:
        gc.enable()
        gc.unfreeze()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds, one session")
    parser.add_argument("--round-seconds", type=float, default=2.0, help="audio per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="audio per session, per N")
    parser.add_argument(
        "--sweep",
        type=parse_sweep,
        nargs="*",
        default=[parse_sweep(s) for s in SWEEPS],
        help="PATH:FRAMES:N,N,… (PATH gateway or direct), default: " + " ".join(SWEEPS),
    )
    parser.add_argument(
        "--awake", action="store_true", help="keep every CPU busy at nice 19 (see cpus_awake)"
    )
    parser.add_argument("--in-process-blocks", type=int, default=3000)
    args = parser.parse_args()

    collection = worker_heap_collection()
    print(
        f"full garbage collection of the effects worker's start-up heap "
        f"({collection['objects']} objects): {collection['before_freeze_ms']} ms, "
        f"frozen: {collection['after_freeze_ms']} ms",
        flush=True,
    )
    local = {str(f): in_process(f, args.in_process_blocks) for f in (480, 960)}
    for frames, r in local.items():
        print(
            f"in-process, {frames} frames, p50/p99 µs: trivial {r['trivial']['p50_us']}/"
            f"{r['trivial']['p99_us']}, chain3 {r['chain3']['p50_us']}/{r['chain3']['p99_us']}",
            flush=True,
        )
    env = dict(ENV)
    with (
        tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp,
        running_platform(Path(tmp), **env) as platform,
        cpus_awake(args.awake) as spinners,
    ):
        result = run(measure(platform, args, spinners))
    env.pop("WORKERS")
    save(
        "live_latency_awake" if args.awake else "live_latency",
        {
            "cpus_awake": args.awake,
            "format": "48 kHz stereo float32",
            "chain3": CHAIN,
            "trivial": TRIVIAL,
            "env": env,
            "warmup_blocks_per_session": WARMUP_BLOCKS,
            "underrun": "a block received more than one block duration after the client began to "
            "send it, or never",
            "in_process": local,
            "worker_heap_collection": collection,
            **result,
            "targets": {
                "round_trip": "well under one block",
                "chain3_added_p99_ms": 5,
                "sessions_per_worker": 32,
            },
        },
    )


if __name__ == "__main__":
    main()
