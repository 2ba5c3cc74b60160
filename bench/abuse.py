"""The abuse suite's attacks at full size, against the platform as deployed (accounts
required, default limits and quotas), while another account is served: per attack, the
peak memory of the process under attack (growth over its baseline), the victim's p50/p99
latency, what was written to storage, and how the platform answered.

.venv/bin/python -m bench.abuse            (about 3 minutes on 2 cores)

Results in bench/results/abuse.json and docs/reliability.md ("Bounded under abuse").
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf
import websockets

from bench.common import machine, running_platform, save
from cadenza.devstack.abuse import (
    Account,
    MemoryWatch,
    Victim,
    busy_account,
    cpu_seconds,
    effects_job,
    finished_job,
    multipart_of,
    new_account,
    storage_bytes,
    tree_rss,
    upload_file,
    zeros,
)
from cadenza.devstack.demucs_models import install_test_models
from cadenza.devstack.hostile import corpus, wide_flac_bomb
from cadenza.devstack.music import song_midi
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise, write_tone

MB = 1 << 20
CACHE = Path(os.environ.get("CADENZA_TEST_CACHE", Path.home() / ".cache" / "cadenza-tests"))
QUOTA = 256 * MB
HEAVY = [{"type": "pitch_shift", "semitones": 3}] * 12 + [{"type": "phaser"}] * 8


def _threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _row(
    attack: str,
    process: str,
    watch: MemoryWatch | None,
    victim: Victim | None,
    written: int,
    outcome: str,
) -> dict[str, Any]:
    row = {
        "attack": attack,
        "process": process,
        "peak_growth_mb": round(watch.growth / MB, 1) if watch else None,
        "peak_mb": round(watch.peak / MB, 1) if watch else None,
        "victim_p50_s": round(victim.percentile(50), 3) if victim else None,
        "victim_p99_s": round(victim.percentile(99), 3) if victim else None,
        "victim_requests": len(victim.latencies) if victim else None,
        "victim_failures": len(victim.failures) if victim else None,
        "storage_written_mb": round(written / MB, 2),
        "outcome": outcome,
    }
    print(json.dumps(row), flush=True)
    return row


def send_body(url: str, path: str, kind: str, size: int) -> int:
    """One attack request, from a process of its own (so the attackers' work does not slow
    the victim's client in this one); the status, or 0 when the server closed the
    connection before the client had sent the body."""
    if kind == "multipart":
        body, content_type = multipart_of(size)
        headers = {"Content-Type": content_type}
    else:
        body, headers = zeros(size), {"Content-Type": "application/json"}
    try:
        return httpx.post(url + path, content=body, headers=headers, timeout=120).status_code
    except httpx.HTTPError:
        return 0


def bodies(platform: Platform, victim: Account, tone: bytes) -> dict[str, Any]:
    attacks = [
        (path, kind)
        for _ in range(4)
        for path, kind in (
            ("/api/v1/uploads", "multipart"),  # no credentials: 401 before the body
            ("/api/v1/jobs", "multipart"),  # the wrong route for multipart: 415 unread
            ("/api/v1/jobs", "json"),  # chunked JSON: cut off at the limit
        )
    ]
    watch = MemoryWatch(platform.services["gateway"].pid)
    others = busy_account(platform.url, victim, tone)
    spawn = multiprocessing.get_context("spawn")
    with (
        watch.watching(),
        others.serving(),
        ProcessPoolExecutor(len(attacks), mp_context=spawn) as pool,
    ):
        codes = list(
            pool.map(
                send_body,
                *zip(
                    *[(platform.url, path, kind, 500 * MB) for path, kind in attacks], strict=True
                ),
            )
        )
    outcome = f"{len(codes)} bodies of 500 MB, answered {sorted(set(codes))} (0: cut off)"
    return _row(
        "unauthenticated/wrong-route 500 MB bodies ×12", "gateway", watch, others, 0, outcome
    )


def bombs(platform: Platform, api: httpx.Client, victim: Account, tone: bytes) -> dict[str, Any]:
    cache = CACHE / "hostile"
    by_case = {bad.case: bad for bad in corpus(cache)}
    files = [
        ("wide.flac", wide_flac_bomb(cache)),
        ("flat.flac", by_case["flac bomb without a declared length"].make(cache)),
        ("declared.flac", by_case["flac bomb: 2 hours of silence in 180 KB"].make(cache)),
    ]
    attackers = [new_account(api, f"bomber{i}") for i in range(4)]
    answers: list[int] = []

    def bomb(account: Account, name: str, data: bytes) -> Callable[[], None]:
        def run() -> None:
            with httpx.Client(base_url=platform.url, timeout=120) as client:
                for _ in range(5):
                    response = client.post(
                        "/api/v1/uploads", files={"file": (name, data)}, headers=account.headers
                    )
                    answers.append(response.status_code)

        return run

    watch = MemoryWatch(platform.services["gateway"].pid, children=True)
    others = busy_account(platform.url, victim, tone)
    with watch.watching(), others.serving():
        _threads(
            [
                bomb(account, *files[(i + j) % len(files)])
                for i, account in enumerate(attackers)
                for j in range(2)
            ]
        )
    counts = {code: answers.count(code) for code in sorted(set(answers))}
    outcome = f"40 bombs, 8 in flight from 4 accounts: {counts} (415 refused, 429 busy)"
    return _row(
        "decode bombs (gateway + file-check processes)", "gateway", watch, others, 0, outcome
    )


def amplification(platform: Platform, api: httpx.Client, tmp: Path) -> dict[str, Any]:
    attacker = new_account(api, "amplifier")
    path = tmp / "silence.flac"
    with sf.SoundFile(str(path), "w", 44_100, 2, format="FLAC", subtype="PCM_16") as f:
        for _ in range(110):
            f.write(np.zeros((44_100, 2), dtype=np.float32))
    upload = upload_file(api, attacker, path).json()
    codes = []
    for _ in range(10):
        response = effects_job(api, attacker, upload["id"], [{"type": "gain"}], bit_depth=32)
        codes.append(response.status_code)
        if response.status_code == 202:
            finished_job(api, attacker, response.json()["id"])
    written = storage_bytes(platform.storage_dir, attacker.user_id)
    outcome = (
        f"{path.stat().st_size / 1024:.0f} KB upload, ten 32-bit WAV jobs of 38.8 MB each: "
        f"{codes.count(202)} accepted, {codes.count(403)} refused (quota {QUOTA // MB} MB)"
    )
    return _row("amplification into storage", "storage", None, None, written, outcome)


def delay_lines(platform: Platform, api: httpx.Client, tmp: Path) -> list[dict[str, Any]]:
    attacker = new_account(api, "delays")
    wide = write_tone(tmp / "wide.wav", 2.0, sample_rate=192_000, channels=8)
    upload = upload_file(api, attacker, wide).json()
    effects = platform.services["effects"].pid
    refused = effects_job(
        api, attacker, upload["id"], [{"type": "delay", "delay_seconds": 30}] * 8, bit_depth=16
    )
    watch = MemoryWatch(effects)
    with watch.watching():
        job = effects_job(
            api, attacker, upload["id"], [{"type": "delay", "delay_seconds": 30}] * 2, bit_depth=16
        )
        state = finished_job(api, attacker, job.json()["id"])["status"]
        time.sleep(1.0)
    kept = tree_rss(effects) - watch.baseline
    rows = [
        _row(
            "job: 8 × 30 s delays at 192 kHz, 8 channels (1.4 GB of delay line)",
            "effects",
            None,
            None,
            0,
            f"{refused.status_code}: {refused.json()['errors'][0]['message'][:90]}",
        ),
        _row(
            "job: 2 × 30 s delays at 192 kHz, 8 channels (352 MiB, within budget)",
            "effects",
            watch,
            None,
            0,
            f"{state}; {kept / MB:.0f} MB still held 1 s after",
        ),
    ]

    async def live() -> tuple[str, MemoryWatch, int]:
        url = platform.url.replace("http://", "ws://") + "/api/v1/live"
        fmt = {"sample_rate": 192_000, "channels": 2, "block_frames": 1920}
        refused_reason = ""
        async with websockets.connect(url, additional_headers=attacker.headers) as ws:
            chain = [{"type": "delay", "delay_seconds": 30}] * 32
            await ws.send(json.dumps({"type": "open", "chain": chain, "format": fmt}))
            refused_reason = json.loads(await ws.recv())["reason"][:90]
        session = MemoryWatch(effects)
        with session.watching():
            async with websockets.connect(url, additional_headers=attacker.headers) as ws:
                chain = [{"type": "delay", "delay_seconds": 30}]
                await ws.send(json.dumps({"type": "open", "chain": chain, "format": fmt}))
                await ws.recv()
                block = np.random.default_rng(1).standard_normal(3840).astype("<f4") * 0.1
                for _ in range(3000):  # 30 s of audio: the whole delay line is touched
                    await ws.send(block.tobytes())
                    await ws.recv()
            await asyncio.sleep(1.0)
        return refused_reason, session, tree_rss(effects) - session.baseline

    reason, session, kept = asyncio.run(live())
    rows.append(
        _row("live: 32 × 30 s delays at 192 kHz (1.4 GB)", "effects", None, None, 0, reason)
    )
    rows.append(
        _row(
            "live: 1 × 30 s delay at 192 kHz, 30 s of audio",
            "effects",
            session,
            None,
            0,
            f"ran; {kept / MB:.0f} MB still held 1 s after it closed",
        )
    )
    return rows


def catalog(platform: Platform, api: httpx.Client) -> dict[str, Any]:
    attacker = new_account(api, "catalog")
    events = b"\x00\x90\x3c\x5a" + b"\x01\x3c\x00\x00\x3c\x5a" * 2_500_000 + b"\x00\xff\x2f\x00"
    flood = (
        b"MThd"
        + (6).to_bytes(4, "big")
        + bytes([0, 0, 0, 1, 1, 0xE0])
        + b"MTrk"
        + len(events).to_bytes(4, "big")
        + events
    )
    bomb = wide_flac_bomb(CACHE / "hostile")
    watch = MemoryWatch(platform.services["catalog"].pid, children=True)
    codes = []
    with watch.watching():
        for _ in range(3):
            for field, name, data in (("audio", "b.flac", bomb), ("midi", "f.mid", flood)):
                response = api.post(
                    "/api/v1/songs",
                    params={"wait": "30"},
                    files={field: (name, data)},
                    data={"title": "x"},
                    headers=attacker.headers,
                )
                codes.append(response.status_code)
                match = api.post(
                    "/api/v1/songs/match", files={"file": (name, data)}, headers=attacker.headers
                )
                codes.append(match.status_code)
        real = api.post(
            "/api/v1/songs/match",
            files={"file": ("tune.mid", song_midi(seed=5))},
            headers=attacker.headers,
        ).status_code
    outcome = (
        f"bomb and 15 MB MIDI as songs and matches ×3: {sorted(set(codes))}; real match {real}"
    )
    return _row("catalog bombs", "catalog (+ analysis processes)", watch, None, 0, outcome)


def seconds_until_cpu_stops(pid: int, within_s: float) -> float | None:
    """Seconds from now until process `pid` stops using the CPU (under 10 % of a core over
    100 ms), or None if it is still working `within_s` seconds later."""
    since = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - since < within_s:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now - last < 0.01:
            return time.monotonic() - since
        last = now
    return None


def fairness(platform: Platform, api: httpx.Client, tmp: Path, tone: Path) -> dict[str, Any]:
    attacker = new_account(api, "heavy")
    victim = new_account(api, "light")
    source = upload_file(api, attacker, write_noise(tmp / "long.wav", 120.0)).json()
    heavy = [effects_job(api, attacker, source["id"], HEAVY, format="flac") for _ in range(2)]
    time.sleep(1.0)
    small = upload_file(api, victim, tone).json()
    started = time.monotonic()
    quick = effects_job(api, victim, small["id"], [{"type": "gain", "gain_db": -3}])
    finished_job(api, victim, quick.json()["id"])
    took = time.monotonic() - started
    effects = platform.services["effects"].pid
    for response in heavy:
        api.delete(f"/api/v1/jobs/{response.json()['id']}", headers=attacker.headers)
    stopped_after = seconds_until_cpu_stops(effects, within_s=10)
    outcome = (
        f"other account's trivial job done in {took:.2f} s while two heavy jobs ran; "
        f"CPU stopped {stopped_after:.2f} s after cancelling"
        if stopped_after is not None
        else f"trivial job {took:.2f} s; CPU did not stop within 10 s of cancelling"
    )
    return _row("two heavy jobs, then cancel", "effects", None, None, 0, outcome)


def separation_cancel(platform: Platform, api: httpx.Client, tmp: Path) -> dict[str, Any]:
    """A separation with the full-size HT Demucs architecture (random weights) on the CPU, a
    segment of which takes seconds: cancelled mid-segment, how soon its CPU stops."""
    account = new_account(api, "separator")
    source = upload_file(api, account, write_noise(tmp / "song.wav", 60.0)).json()
    job = api.post(
        "/api/v1/jobs",
        json={
            "kind": "separation",
            "input": {"upload_id": source["id"]},
            "params": {"model": "htdemucs"},
        },
        headers=account.headers,
    ).json()
    separation = platform.services["separation"].pid
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until a segment is being separated
        state = api.get(f"/api/v1/jobs/{job['id']}", headers=account.headers).json()
        if state["status"] == "running":
            break
        time.sleep(0.2)
    time.sleep(3.0)  # well into a segment
    api.delete(f"/api/v1/jobs/{job['id']}", headers=account.headers)
    stopped_after = seconds_until_cpu_stops(separation, within_s=15)
    outcome = (
        f"cancelled mid-segment; CPU stopped {stopped_after:.2f} s after"
        if stopped_after is not None
        else "CPU did not stop within 15 s of cancelling"
    )
    return _row(
        "separation (full HT Demucs on the CPU), then cancel", "separation", None, None, 0, outcome
    )


def main() -> None:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cadenza-abuse-") as tmp_dir:
        tmp = Path(tmp_dir)
        tone = write_tone(tmp / "tone.wav", 2.0)
        install_test_models(tmp / "data" / "models", size="full")
        with (
            running_platform(
                tmp,
                AUTH_MODE="required",
                AUTH_RATE_LIMIT_PER_MINUTE="600",
                RATE_LIMIT_PER_MINUTE="6000",
                RATE_LIMIT_BURST="500",
                STORAGE_QUOTA_BYTES=str(QUOTA),
                MAX_ACTIVE_JOBS="4",
            ) as platform,
            httpx.Client(base_url=platform.url, timeout=300) as api,
        ):
            victim = new_account(api, "victim")
            rows.append(bodies(platform, victim, tone.read_bytes()))
            rows.append(bombs(platform, api, victim, tone.read_bytes()))
            rows.append(amplification(platform, api, tmp))
            rows.extend(delay_lines(platform, api, tmp))
            rows.append(catalog(platform, api))
            rows.append(fairness(platform, api, tmp, tone))
            rows.append(separation_cancel(platform, api, tmp))
    save("abuse", {"machine": machine(), "quota_mb": QUOTA // MB, "attacks": rows})


if __name__ == "__main__":
    main()
