"""Peak resident memory of the separation worker on long tracks (10 and 60 minutes by
default), with a random-weight model of the htdemucs architecture on CPU, or the classical
method. Target: ≤ 2.5 GB for 60 minutes. Slow on a CPU: about real time for htdemucs.

    .venv/bin/python -m bench.separation_memory [--minutes 10 60] [--model htdemucs]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import running_platform, save, upload, vm_hwm_mb, vm_rss_mb
from bench.separation_vs_apply_model import through_platform
from bench.worker_memory import write_long_track
from cadenza.devstack.demucs_models import save_bag, save_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--model", default="htdemucs", choices=["htdemucs", "classical"])
    args = parser.parse_args()
    runs = []
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
            root = Path(tmp)
            models = root / "data" / "models"
            save_checkpoint(models, "955717e8", size="full")
            save_bag(models, "htdemucs", ["955717e8"])
            track = write_long_track(root / "long.wav", minutes)
            with running_platform(root, RESULT_CACHE="false") as platform:
                worker = platform.services["separation"].pid
                with httpx.Client(base_url=platform.url) as api:
                    upload_id = upload(api, track)["id"]
                idle = vm_rss_mb(worker)
                started = time.perf_counter()
                seconds, _ = asyncio.run(through_platform(platform, upload_id, args.model))
                runs.append(
                    {
                        "minutes": minutes,
                        "job_s": round(seconds, 1),
                        "realtime_factor": round(minutes * 60 / seconds, 3),
                        "worker_idle_rss_mb": round(idle, 1),
                        "worker_peak_rss_mb": round(vm_hwm_mb(worker), 1),
                        "wall_s": round(time.perf_counter() - started, 1),
                    }
                )
                print(runs[-1], flush=True)
    save(
        f"separation_memory_{args.model}",
        {"model": args.model, "runs": runs, "target_peak_rss_mb_60min": 2560},
    )


if __name__ == "__main__":
    main()
