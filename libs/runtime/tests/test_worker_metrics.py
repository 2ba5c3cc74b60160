"""`cadenza_jobs_total` counts commands, not attempts: against a real nats-server, a command
retried by JetStream counts once (its retries in `cadenza_job_retries_total`), and a command
redelivered after its fact was stored (the ack was lost) is not counted again. The worker
families are registered by a worker's start, never by an import; no `_created` series."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cadenza.contracts import ArtifactRef, EffectsCompleted, EffectsFailed, EffectsRequested
from cadenza.contracts.consumers import EFFECTS_CONSUMER
from cadenza.devstack.nats import NatsServer
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.settings import WorkerSettings
from cadenza.runtime.worker import JobRun, PermanentError, handle_command

REF = ArtifactRef(uri="file:///nowhere", media_type="audio/wav", bytes=1, sha256="0" * 64)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def command() -> EffectsRequested:
    return EffectsRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=REF,
        chain=[{"type": "gain"}],
    )


@pytest.fixture
async def runtime(fresh_nats: NatsServer, tmp_path: Path) -> AsyncIterator[WorkerRuntime]:
    settings = WorkerSettings(
        nats_url=fresh_nats.url,
        storage_dir=tmp_path,
        max_deliver=4,
        ack_wait_s=5,
        retry_backoff_s=(0.1,),
    )
    worker = WorkerRuntime(settings, "metrics-test")
    async with worker:
        yield worker


async def run_once(runtime: WorkerRuntime, cmd: EffectsRequested, stage: str, fail: bool) -> str:
    """One delivery of `cmd` (msg None: as a redelivery would run it)."""

    async def work(run: JobRun) -> EffectsCompleted:
        if fail:
            raise PermanentError("upload 3f2 is not audio: libsndfile could not decode it")
        return EffectsCompleted.caused_by(cmd, stage="effects", outputs={"processed.wav": REF})

    return await handle_command(
        command=cmd,
        msg=None,
        stage=stage,
        failed=EffectsFailed,
        bus=runtime.bus,
        cancellations=runtime.cancellations,
        settings=runtime.settings,
        work=work,
    )


async def test_a_command_redelivered_after_its_fact_is_counted_once(
    runtime: WorkerRuntime,
) -> None:
    stage = f"effects-{uuid.uuid4().hex[:6]}"  # its own label: other tests do not count
    done, bad = command(), command()
    for _ in range(3):  # the first delivery, then two whose ack was lost
        assert await run_once(runtime, done, stage, fail=False) == "completed"
        assert await run_once(runtime, bad, stage, fail=True) == "failed"
    assert value("cadenza_jobs_total", stage=stage, outcome="completed") == 1
    assert value("cadenza_jobs_total", stage=stage, outcome="failed") == 1
    assert value("cadenza_job_failures_total", stage=stage, code="invalid_input") == 1
    # Each attempt still has its wall time.
    assert value("cadenza_job_duration_seconds_count", stage=stage) == 6


async def test_a_command_jetstream_retried_is_one_job_and_two_retries(
    runtime: WorkerRuntime,
) -> None:
    stage = f"effects-{uuid.uuid4().hex[:6]}"
    attempts: list[int] = []

    async def work(cmd: EffectsRequested, run: JobRun) -> EffectsCompleted:
        assert run.msg is not None
        attempts.append(int(run.msg.metadata.num_delivered))
        if len(attempts) < 3:
            raise ConnectionError("storage did not answer")
        return EffectsCompleted.caused_by(cmd, stage="effects", outputs={"out.wav": REF})

    subscribe_consumer(
        runtime,
        replace(EFFECTS_CONSUMER, durable="metrics-test", title="metrics-test", stage=stage),
        work,
    )
    await runtime.start_consuming()
    await runtime.bus.publish(command())
    for _ in range(300):  # counted once the fact is stored
        if value("cadenza_jobs_total", stage=stage, outcome="completed"):
            break
        await asyncio.sleep(0.1)
    assert attempts == [1, 2, 3]
    assert value("cadenza_jobs_total", stage=stage, outcome="completed") == 1
    assert value("cadenza_job_retries_total", stage=stage) == 2
    total = sum(
        s.value
        for family in text_string_to_metric_families(generate_latest().decode())
        for s in family.samples
        if s.name == "cadenza_jobs_total" and s.labels.get("stage") == stage
    )
    assert total == 1, "every outcome of the one command together"


def test_worker_families_register_on_a_workers_start_not_on_import(tmp_path: Path) -> None:
    # A fresh interpreter: this one's registry already holds the families of the tests above.
    script = """
import sys
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
import cadenza.runtime.worker, cadenza.runtime.artifacts  # what the gateway imports
from cadenza.runtime import metrics

def names():
    text = generate_latest().decode()
    assert "_created" not in text, text
    return {f.name for f in text_string_to_metric_families(text)}

assert not any(n.startswith("cadenza_") for n in names()), names()
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.settings import WorkerSettings
WorkerRuntime(WorkerSettings(storage_dir=sys.argv[1]), "probe")
metrics.worker_metrics().jobs.labels("effects", "completed").inc()
metrics.worker_metrics().job_seconds.labels("effects").observe(1.0)
print(sorted(n for n in names() if n.startswith("cadenza_")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        sorted(
            [
                "cadenza_audio_processed_seconds",
                "cadenza_job_duration_seconds",
                "cadenza_job_failures",
                "cadenza_job_retries",
                "cadenza_job_turn_wait_seconds",
                "cadenza_jobs",
            ]
        )
    )
