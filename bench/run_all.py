"""Run every benchmark in turn (each prints its figures and writes bench/results/*.json).

.venv/bin/python -m bench.run_all
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    "bench.effects_throughput",
    "bench.dispatch_latency",
    "bench.live_latency",
    "bench.worker_memory",
    "bench.vs_celery",
    "bench.kill_worker",
    "bench.catalog_similarity",
    "bench.catalog_ingest",
    "bench.render_speed",
    "bench.mastering_accuracy",
    "bench.true_peak_device",
    "bench.music_pipeline",
    "bench.composition_quality",
]


def main() -> None:
    failed = []
    for module in BENCHMARKS:
        print(f"=== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
