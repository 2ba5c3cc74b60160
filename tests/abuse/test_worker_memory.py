"""Class 4: worker memory from valid parameters. Delay lines and pitch-shift segments are
estimated before the work: a chain that would take the effects worker past its budget is
refused (a job with 422 naming the effect, a live session at its opening or at the change
that would grow it), one within it runs, and the memory a job or a session held goes back
to the system when it ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
import websockets

from cadenza.devstack.abuse import (
    Account,
    MemoryWatch,
    effects_job,
    finished_job,
    tree_rss,
    upload_file,
)
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import tone

MB = 1 << 20
# The effects worker's container limit in k8s/base/effects.yaml.
CONTAINER_LIMIT = 2 << 30


def test_delay_lines_past_the_budget_are_refused_and_memory_comes_back(
    platform: Platform, api: httpx.Client, attacker: Account, tmp_path: Path
) -> None:
    # Ten seconds of a tone at 192 kHz in 8 channels: FLAC keeps it small, the delay line it
    # goes through holds 10 s × 192 kHz × 8 × 4 bytes = 59 MiB of it by the end.
    wide = tmp_path / "wide.flac"
    sf.write(
        str(wide),
        tone(10.0, sample_rate=192_000, channels=8, amplitude=0.1),
        192_000,
        format="FLAC",
        subtype="PCM_16",
    )
    upload = upload_file(api, attacker, wide).json()
    # 30 s × 192 kHz × 8 channels × 4 bytes = 176 MiB of delay line each: four of them are
    # over the 512 MiB a job may need.
    refused = effects_job(
        api, attacker, upload["id"], [{"type": "delay", "delay_seconds": 30}] * 4, bit_depth=16
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"].startswith("params.chain.")
    assert "working memory" in refused.json()["errors"][0]["message"]
    # One of them is within the budget: it runs, and the worker gives the memory back.
    effects = platform.services["effects"].pid
    watch = MemoryWatch(effects)
    with watch.watching():
        job = effects_job(
            api, attacker, upload["id"], [{"type": "delay", "delay_seconds": 30}], bit_depth=16
        )
        assert job.status_code == 202, job.text
        assert finished_job(api, attacker, job.json()["id"])["status"] == "completed"
        time.sleep(0.5)
    assert watch.peak < CONTAINER_LIMIT
    assert watch.growth > 40 * MB, "the delay line was really held while the job ran"
    after = tree_rss(effects)
    assert after - watch.baseline < 48 * MB, f"{(after - watch.baseline) / MB:.0f} MB kept"


def _open(delays: list[float]) -> str:
    return json.dumps(
        {
            "type": "open",
            "chain": [{"type": "delay", "delay_seconds": d, "mix": 0.5} for d in delays],
            "format": {"sample_rate": 192_000, "channels": 2, "block_frames": 1920},
        }
    )


async def test_live_sessions_are_held_to_their_memory(
    platform: Platform, attacker: Account
) -> None:
    url = platform.url.replace("http://", "ws://") + "/api/v1/live"
    headers = attacker.headers
    effects = platform.services["effects"].pid
    # Two 30 s delays at 192 kHz stereo: 88 MiB, over the 64 MiB of a live session.
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(_open([30.0, 30.0]))
        said = json.loads(await ws.recv())
        assert said["type"] == "closed" and said["code"] == 4400, said
        assert "per live session" in said["reason"]
    baseline = tree_rss(effects)
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(_open([30.0]))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        block = np.random.default_rng(1).standard_normal(1920 * 2).astype("<f4") * 0.1
        for _ in range(1500):  # 15 s of audio through 30 s of delay: 22 MiB of it touched
            await ws.send(block.tobytes())
            await ws.recv()
        # A change that would grow it past the budget closes the session with the reason.
        bigger = [{"type": "delay", "delay_seconds": 30}] * 2
        await ws.send(json.dumps({"type": "chain", "chain": bigger}))
        while True:
            message = await ws.recv()
            if isinstance(message, str) and (said := json.loads(message))["type"] == "closed":
                break
        assert said["code"] == 4400 and "per live session" in said["reason"]
    await asyncio.sleep(0.5)
    assert tree_rss(effects) - baseline < 8 * MB, "the closed session's memory went back"
