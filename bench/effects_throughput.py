"""Effects on a 3-minute stereo 44.1 kHz track with a 5-plugin chain: time through the
platform (submit → completed over the WebSocket; the upload is excluded) against calling
pedalboard directly on the same file, in the same run. Target: ratio ≤ 1.2.

    .venv/bin/python bench/effects_throughput.py [--seconds 180] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pedalboard
from pedalboard.io import AudioFile

from bench.common import effects_job, open_ws, running_platform, save, submit_and_wait, upload
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise

CHAIN: list[dict[str, Any]] = [
    {"type": "highpass_filter", "cutoff_frequency_hz": 60},
    {"type": "compressor", "threshold_db": -18, "ratio": 3},
    {"type": "chorus"},
    {"type": "reverb", "room_size": 0.6},
    {"type": "limiter", "threshold_db": -1},
]


def direct(source: Path, dest: Path) -> float:
    """What a script would do: read, run the board, write a 24-bit WAV."""
    board = pedalboard.Pedalboard(
        [
            pedalboard.HighpassFilter(cutoff_frequency_hz=60),
            pedalboard.Compressor(threshold_db=-18, ratio=3),
            pedalboard.Chorus(),
            pedalboard.Reverb(room_size=0.6),
            pedalboard.Limiter(threshold_db=-1),
        ]
    )
    started = time.perf_counter()
    with AudioFile(str(source)) as f:
        audio, rate = f.read(f.frames), f.samplerate
    processed = board(audio, rate)
    with AudioFile(str(dest), "w", rate, processed.shape[0], bit_depth=24) as out:
        out.write(processed)
    return time.perf_counter() - started


async def through_platform(platform: Platform, upload_id: str, repeat: int) -> list[float]:
    """Seconds from POST /api/v1/jobs to job.completed on the WebSocket, per run."""
    timings = []
    async with httpx.AsyncClient(base_url=platform.url, timeout=3600) as client:
        ws = await open_ws(platform)
        try:
            for _ in range(repeat):
                seconds, _ = await submit_and_wait(client, ws, effects_job(upload_id, CHAIN))
                timings.append(seconds)
        finally:
            await ws.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        source = write_noise(root / "track.wav", args.seconds)
        with running_platform(root) as platform:
            with httpx.Client(base_url=platform.url) as api:
                upload_id = upload(api, source)["id"]
            # Interleave the two so machine noise hits both alike.
            direct_s: list[float] = []
            platform_s: list[float] = []
            for _ in range(args.repeat):
                direct_s.append(direct(source, root / "direct.wav"))
                platform_s += asyncio.run(through_platform(platform, upload_id, 1))
    direct_median = statistics.median(direct_s)
    platform_median = statistics.median(platform_s)
    save(
        "effects_throughput",
        {
            "track_seconds": args.seconds,
            "chain": [p["type"] for p in CHAIN],
            "direct_pedalboard_s": [round(v, 3) for v in direct_s],
            "platform_s": [round(v, 3) for v in platform_s],
            "direct_median_s": round(direct_median, 3),
            "platform_median_s": round(platform_median, 3),
            "ratio_platform_over_direct": round(platform_median / direct_median, 3),
            "target_ratio": 1.2,
        },
    )


if __name__ == "__main__":
    main()
