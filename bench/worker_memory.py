"""Memory: a 60-minute stereo track through the effects service. Reports the worker's peak
resident set (VmHWM) before and after the job, and the gateway's for the upload.
Target: peak worker RSS ≤ 400 MB.

    .venv/bin/python -m bench.worker_memory [--minutes 60]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from bench.common import (
    running_platform,
    save,
    upload,
    vm_hwm_mb,
    vm_rss_mb,
)
from bench.effects_throughput import CHAIN, through_platform


def write_long_track(path: Path, minutes: float, sample_rate: int = 44100) -> Path:
    """Noise written a minute at a time, so the benchmark itself stays small."""
    rng = np.random.default_rng(7)
    with sf.SoundFile(str(path), "w", sample_rate, 2, subtype="PCM_16") as f:
        for _ in range(int(minutes)):
            f.write((rng.standard_normal((60 * sample_rate, 2)) * 0.1).astype(np.float32))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        track = write_long_track(root / "long.wav", args.minutes)
        with running_platform(root) as platform:
            worker = platform.services["effects"].pid
            gateway = platform.services["gateway"].pid
            idle_rss = vm_rss_mb(worker)
            started = time.perf_counter()
            with httpx.Client(base_url=platform.url) as api:
                upload_id = upload(api, track)["id"]
            upload_s = time.perf_counter() - started
            (job_s,) = asyncio.run(through_platform(platform, upload_id, repeat=1))
            result = {
                "track_minutes": args.minutes,
                "track_bytes": track.stat().st_size,
                "chain": [p["type"] for p in CHAIN],
                "upload_s": round(upload_s, 1),
                "job_s": round(job_s, 1),
                "realtime_factor": round(args.minutes * 60 / job_s, 1),
                "worker_idle_rss_mb": round(idle_rss, 1),
                "worker_peak_rss_mb": round(vm_hwm_mb(worker), 1),
                "gateway_peak_rss_mb": round(vm_hwm_mb(gateway), 1),
                "target_worker_peak_rss_mb": 400,
            }
    save("worker_memory", result)


if __name__ == "__main__":
    main()
