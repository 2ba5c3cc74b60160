"""Throughput with cross-job batching against one job at a time: several separation jobs
queued at once, audio-minutes separated per wall-minute, same model, same machine, same run.
Meant for a GPU (`--device cuda`), where a batch of segments costs little more than one;
on a CPU it only shows the mechanism at work (no gain expected: the cores are already busy).

    .venv/bin/python -m bench.separation_batching [--device cpu] [--jobs 4] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import soundfile as sf
from nats.aio.msg import Msg

from bench.common import save
from cadenza.contracts import ArtifactRef, OutputFormat, SeparationCompleted, SeparationRequested
from cadenza.devstack.demucs_models import save_bag, save_checkpoint
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.platform import WORKERS, Service
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import write_noise
from cadenza.runtime.storage import LocalObjectStore


async def run_jobs(nats_url: str, sources: list[ArtifactRef]) -> float:
    done: dict[uuid.UUID, asyncio.Future[None]] = {}
    nc = await nats.connect(nats_url)

    async def completed(msg: Msg) -> None:
        fact = SeparationCompleted.model_validate_json(msg.data)
        if fact.job_id in done and not done[fact.job_id].done():
            done[fact.job_id].set_result(None)

    await nc.subscribe(SeparationCompleted.subject, cb=completed)
    js = nc.jetstream()
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    for source in sources:
        cmd = SeparationRequested(
            job_id=uuid.uuid4(),
            owner="bench",
            correlation_id=uuid.uuid4(),
            input=source,
            model="htdemucs",
            stems=("drums", "bass", "other", "vocals"),
            output=OutputFormat(),
        )
        done[cmd.job_id] = loop.create_future()
        await js.publish(
            cmd.subject, cmd.model_dump_json().encode(), headers={"Nats-Msg-Id": str(cmd.event_id)}
        )
    await asyncio.wait_for(asyncio.gather(*done.values()), 7200)
    elapsed = time.perf_counter() - started
    await nc.close()
    return elapsed


def measure(root: Path, args: argparse.Namespace, concurrency: int, batch: int) -> dict[str, Any]:
    models = root / "models"
    if not models.exists():
        save_checkpoint(models, "955717e8", size=args.size)
        save_bag(models, "htdemucs", ["955717e8"])
    server = NatsServer(root / f"nats-{concurrency}-{batch}")
    server.start()
    port = free_port()
    store_dir = root / f"store-{concurrency}-{batch}"
    worker = Service(
        "separation",
        WORKERS["separation"],
        port,
        {
            **os.environ,
            "NATS_URL": server.url,
            "STORAGE_DIR": str(store_dir),
            "MODEL_DIR": str(models),
            "HTTP_PORT": str(port),
            "DEVICE": args.device,
            "CONCURRENCY": str(concurrency),
            "BATCH_SIZE": str(batch),
            "RESULT_CACHE": "false",
            "LOG_LEVEL": "WARNING",
            "USE_TORCH_HUB_CACHE": "false",
        },
        root / "worker.log",
    )
    try:
        worker.start()
        worker.wait_ready(300)
        store = LocalObjectStore(store_dir)
        asyncio.run(store.start())
        sources = []
        for index in range(args.jobs + 1):
            path = write_noise(root / f"in-{index}.wav", args.seconds, seed=index)
            stored = store.put_file_sync(f"bench/uploads/{uuid.uuid4().hex}", path, "audio/wav")
            sources.append(
                ArtifactRef(
                    uri=stored.uri,
                    media_type="audio/wav",
                    bytes=stored.bytes,
                    sha256=stored.sha256,
                    duration_s=sf.info(str(path)).duration,
                )
            )
        asyncio.run(run_jobs(server.url, sources[:1]))  # load the model, warm up
        elapsed = asyncio.run(run_jobs(server.url, sources[1:]))
    finally:
        worker.stop()
        server.stop()
    audio_minutes = args.jobs * args.seconds / 60
    return {
        "concurrency": concurrency,
        "batch_size": batch,
        "wall_s": round(elapsed, 1),
        "audio_minutes_per_minute": round(audio_minutes / (elapsed / 60), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", default="full", choices=["full", "tiny"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        one_at_a_time = measure(root, args, concurrency=1, batch=1)
        batched = measure(root, args, concurrency=args.jobs, batch=args.batch)
    save(
        "separation_batching",
        {
            "device": args.device,
            "jobs": args.jobs,
            "seconds_each": args.seconds,
            "model": f"htdemucs architecture ({args.size}), random weights",
            "one_at_a_time": one_at_a_time,
            "batched": batched,
            "throughput_ratio": round(
                batched["audio_minutes_per_minute"] / one_at_a_time["audio_minutes_per_minute"], 3
            ),
            "target_on_gpu": 1.5,
        },
    )


if __name__ == "__main__":
    main()
