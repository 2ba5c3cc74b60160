"""The separation worker against a real nats-server: results, the result cache, refusals,
cancellation, and a worker killed mid-job whose job is redelivered and completes once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from cadenza.contracts import (
    ArtifactRef,
    Event,
    JobProgress,
    OutputFormat,
    SeparationCompleted,
    SeparationFailed,
    SeparationRequested,
)
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.platform import WORKERS, Service
from cadenza.devstack.ports import free_port
from cadenza.devstack.roformer_models import reference_demix
from cadenza.devstack.testing import stream_messages, write_noise
from cadenza.runtime.bus import Bus, ensure_streams, make_broker
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.settings import BusSettings
from cadenza.runtime.storage import LocalObjectStore, object_key
from cadenza.separation.app import install
from cadenza.separation.roformer import load_roformer, read_config
from cadenza.separation.settings import Settings


async def facts_for(js: object, job_id: uuid.UUID, timeout_s: float = 60) -> list[Event]:
    deadline = time.monotonic() + timeout_s
    while True:
        found: list[Event] = []
        for subject, cls in (
            ("separation.completed", SeparationCompleted),
            ("separation.failed", SeparationFailed),
        ):
            found += [
                e
                for m in await stream_messages(js, subject, timeout_s=0.3)  # type: ignore[arg-type]
                if (e := cls.model_validate_json(m.data)).job_id == job_id
            ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def command(
    ref: ArtifactRef,
    model: str = "htdemucs",
    stems: tuple[str, ...] = ("vocals",),
    owner: str = "alice",
    **options: Any,
) -> SeparationRequested:
    return SeparationRequested(
        job_id=uuid.uuid4(),
        owner=owner,
        correlation_id=uuid.uuid4(),
        input=ref,
        model=model,
        stems=stems,
        output=OutputFormat(format="flac"),
        **options,
    )


async def stored_input(store: LocalObjectStore, path: Path) -> ArtifactRef:
    stored = await store.put_file(
        object_key("alice", "uploads", uuid.uuid4().hex), path, "audio/wav"
    )
    info = sf.info(str(path))
    return ArtifactRef(
        uri=stored.uri,
        media_type="audio/wav",
        bytes=stored.bytes,
        sha256=stored.sha256,
        duration_s=info.duration,
        sample_rate=info.samplerate,
        channels=info.channels,
    )


@pytest.fixture
async def worker(
    fresh_nats: NatsServer, tmp_path: Path, model_dir: Path
) -> AsyncIterator[WorkerRuntime]:
    settings = Settings(
        nats_url=fresh_nats.url,
        storage_dir=tmp_path / "store",
        model_dir=model_dir,
        use_torch_hub_cache=False,
    )
    runtime = WorkerRuntime(settings, "separation-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        yield runtime


async def test_stems_are_stored_and_the_same_request_is_served_from_cache(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    store = worker.store
    assert isinstance(store, LocalObjectStore)
    ref = await stored_input(store, write_noise(tmp_path / "in.wav", 6.0))
    js = worker.broker.connection.jetstream()
    first = command(ref, stems=("vocals", "drums"))
    await worker.bus.publish(first)
    (done,) = await facts_for(js, first.job_id)
    assert isinstance(done, SeparationCompleted)
    assert sorted(done.outputs) == ["drums.flac", "vocals.flac"]
    assert done.details["cache"] == "miss" and done.details["model"] == "htdemucs"
    for name, artifact in done.outputs.items():
        key = store.key_for(artifact.uri)
        assert key == f"alice/{first.job_id}/{name}"
        info = sf.info(str(store.root / key))
        assert info.frames == 6 * 44100 and info.channels == 2

    again = command(ref, stems=("vocals",))
    started = time.monotonic()
    await worker.bus.publish(again)
    (hit,) = await facts_for(js, again.job_id)
    assert isinstance(hit, SeparationCompleted)
    assert hit.details["cache"] == "hit"
    assert hit.outputs["vocals.flac"].sha256 == done.outputs["vocals.flac"].sha256
    assert time.monotonic() - started < 5

    other_owner = command(ref, stems=("vocals",), owner="bob")
    await worker.bus.publish(other_owner)
    (separate,) = await facts_for(js, other_owner.job_id)
    assert isinstance(separate, SeparationCompleted)
    assert separate.details["cache"] == "miss", "one owner's cache is not another's"


async def test_shifts_change_the_stems_and_the_same_seed_gives_the_same_ones(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    assert isinstance(worker.store, LocalObjectStore)
    ref = await stored_input(worker.store, write_noise(tmp_path / "in.wav", 3.0))
    js = worker.broker.connection.jetstream()
    commands = [
        command(ref, owner="a"),
        command(ref, owner="b", shifts=2, seed=5),
        command(ref, owner="c", shifts=2, seed=5),  # another owner: no cache to share
        command(ref, owner="d", shifts=2, seed=6),
        command(ref, owner="e", overlap=0.5),
    ]
    for cmd in commands:
        await worker.bus.publish(cmd)
    done = []
    for cmd in commands:
        (fact,) = await facts_for(js, cmd.job_id)
        assert isinstance(fact, SeparationCompleted), fact
        assert fact.details["cache"] == "miss"
        done.append(fact)
    plain, shifted, again, other_seed, overlapped = (d.outputs["vocals.flac"].sha256 for d in done)
    assert shifted == again, "the same seed draws the same shifts"
    assert len({plain, shifted, other_seed, overlapped}) == 4
    assert done[1].details | {"seconds": 0, "realtime_factor": 0} == {
        "model": "htdemucs", "device": "cpu", "shifts": 2, "overlap": 0.25, "seed": 5,
        "cache": "miss", "seconds": 0, "realtime_factor": 0,
    }  # fmt: skip
    assert done[4].details["overlap"] == 0.5 and "seed" not in done[4].details

    # The result cache tells the options apart: owner a's unshifted stems are not served for
    # a shifted request, and owner b's shifted ones are, to b.
    for owner, expected_cache in (("a", "miss"), ("b", "hit")):
        cmd = command(ref, owner=owner, shifts=2, seed=5)
        await worker.bus.publish(cmd)
        (fact,) = await facts_for(js, cmd.job_id)
        assert isinstance(fact, SeparationCompleted)
        assert fact.details["cache"] == expected_cache
        assert fact.outputs["vocals.flac"].sha256 == shifted


@pytest.mark.parametrize(
    ("model", "stems", "reason"),
    [
        ("mdx_extra", ("vocals",), "unknown or unavailable model 'mdx_extra'; available: bs_"),
        ("htdemucs", ("guitar",), "model htdemucs has no guitar stem"),
    ],
)
async def test_requests_the_worker_cannot_do_fail_with_a_reason(
    worker: WorkerRuntime, tmp_path: Path, model: str, stems: tuple[str, ...], reason: str
) -> None:
    assert isinstance(worker.store, LocalObjectStore)
    ref = await stored_input(worker.store, write_noise(tmp_path / "in.wav", 1.0))
    cmd = command(ref, model=model, stems=stems)
    await worker.bus.publish(cmd)
    (fact,) = await facts_for(worker.broker.connection.jetstream(), cmd.job_id)
    assert isinstance(fact, SeparationFailed)
    assert fact.code == "invalid_input"
    assert reason in fact.reason


async def test_cancelling_stops_the_work_within_seconds(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    assert isinstance(worker.store, LocalObjectStore)
    long = await stored_input(worker.store, write_noise(tmp_path / "long.wav", 120.0))
    short = await stored_input(worker.store, write_noise(tmp_path / "short.wav", 2.0))
    js = worker.broker.connection.jetstream()
    slow = command(long, model="htdemucs_ft")
    await worker.bus.publish(slow)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is really working
        progress = [
            JobProgress.model_validate_json(m.data)
            for m in await stream_messages(js, "job.progress", timeout_s=0.3)
        ]
        if any(p.job_id == slow.job_id for p in progress):
            break
    cancelled_at = time.monotonic()
    await worker.cancellations.cancel(slow.job_id, "owner asked")
    quick = command(short, model="classical")
    await worker.bus.publish(quick)
    (fact,) = await facts_for(js, quick.job_id)
    assert isinstance(fact, SeparationCompleted)
    assert time.monotonic() - cancelled_at < 15, "the cancelled job let go of the worker"
    assert await facts_for(js, slow.job_id, timeout_s=1) == []
    assert not (worker.store.root / "alice" / str(slow.job_id)).exists()


async def test_a_killed_worker_s_job_is_redelivered_and_completes_once(
    fresh_nats: NatsServer, tmp_path: Path, model_dir: Path
) -> None:
    store_dir = tmp_path / "store"
    env = {
        **os.environ,
        "NATS_URL": fresh_nats.url,
        "STORAGE_DIR": str(store_dir),
        "MODEL_DIR": str(model_dir),
        "ACK_WAIT_S": "3",
        "LOG_LEVEL": "WARNING",
        "USE_TORCH_HUB_CACHE": "false",
    }

    def start() -> Service:
        port = free_port()
        service = Service(
            "separation",
            WORKERS["separation"],
            port,
            {**env, "HTTP_PORT": str(port)},
            tmp_path / "worker.log",
        )
        service.start()
        service.wait_ready(120)
        return service

    first = start()
    broker = make_broker(BusSettings(nats_url=fresh_nats.url), name="test")
    connection = await broker.connect()
    js = connection.jetstream()
    await ensure_streams(js)
    store = LocalObjectStore(store_dir)
    await store.start()
    ref = await stored_input(store, write_noise(tmp_path / "in.wav", 40.0))
    cmd = command(ref, model="htdemucs_ft", stems=("vocals", "bass"))
    await Bus(broker).publish(cmd)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        progress = [
            JobProgress.model_validate_json(m.data)
            for m in await stream_messages(js, "job.progress", timeout_s=0.3)
        ]
        if any(p.job_id == cmd.job_id for p in progress):
            break
    os.kill(first.pid, signal.SIGKILL)  # mid-job, no goodbye
    first.kill()
    second = start()
    try:
        (fact,) = await facts_for(js, cmd.job_id, timeout_s=120)
        assert isinstance(fact, SeparationCompleted)
        await asyncio.sleep(4)  # longer than the ack wait: nothing else comes
        assert len(await facts_for(js, cmd.job_id, timeout_s=1)) == 1
        for name in ("vocals.flac", "bass.flac"):
            info = sf.info(str(store_dir / "alice" / str(cmd.job_id) / name))
            assert info.frames == 40 * 44100
        job_dir = store_dir / "alice" / str(cmd.job_id)
        assert sorted(p.name for p in job_dir.iterdir()) == ["bass.flac", "vocals.flac"]
        # The killed attempt's half-written files never became objects; they are swept.
        assert store.sweep_staging(older_than_s=0) >= 1
        assert list((store_dir / ".tmp").iterdir()) == []
    finally:
        second.stop()
        await broker.stop()
        await store.close()


def read_stem(store: LocalObjectStore, fact: SeparationCompleted, name: str) -> np.ndarray:
    audio, _ = sf.read(str(store.root / store.key_for(fact.outputs[name].uri)), dtype="float32")
    return np.asarray(audio.T)


async def completed(worker: WorkerRuntime, cmd: SeparationRequested) -> SeparationCompleted:
    await worker.bus.publish(cmd)
    (fact,) = await facts_for(worker.broker.connection.jetstream(), cmd.job_id)
    assert isinstance(fact, SeparationCompleted), fact
    return fact


FLOAT_WAV = OutputFormat(format="wav", bit_depth=32)


@pytest.mark.parametrize("model", ["bs_roformer_vocals", "mel_band_roformer_vocals"])
async def test_a_roformer_model_equals_the_reference_inference(
    worker: WorkerRuntime, tmp_path: Path, model_dir: Path, model: str
) -> None:
    assert isinstance(worker.store, LocalObjectStore)
    ref = await stored_input(worker.store, write_noise(tmp_path / "in.wav", 2.5))
    cmd = command(ref, model=model, stems=("vocals", "instrumental"))
    fact = await completed(worker, cmd.model_copy(update={"output": FLOAT_WAV}))
    assert fact.details | {"seconds": 0, "realtime_factor": 0} == {
        "model": model, "device": "cpu", "shifts": 0, "overlap": 0.5,
        "cache": "miss", "seconds": 0, "realtime_factor": 0,
    }  # fmt: skip
    mix, _ = sf.read(str(tmp_path / "in.wav"), dtype="float32")
    checkpoint = model_dir / f"{model}.ckpt"
    runner = load_roformer(checkpoint, read_config(checkpoint.with_suffix(".yaml")))
    config = runner.config
    expected = reference_demix(
        runner, torch.from_numpy(mix.T.copy()), config.chunk_size, config.chunk_size // 2
    ).numpy()
    vocals = read_stem(worker.store, fact, "vocals.wav")
    instrumental = read_stem(worker.store, fact, "instrumental.wav")
    assert np.abs(vocals - expected[0]).max() < 1e-4
    assert np.abs(instrumental - expected[1]).max() < 1e-4
    assert np.abs(vocals + instrumental - mix.T).max() < 1e-5


async def test_an_ensemble_is_the_weighted_mean_of_its_members(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    """htdemucs runs at 44.1 kHz, bs_roformer_4stem at 32 kHz: each member's stems come
    back to the input's rate once, then are averaged."""
    assert isinstance(worker.store, LocalObjectStore)
    ref = await stored_input(worker.store, write_noise(tmp_path / "in.wav", 2.0))
    stems = ("vocals", "drums")

    def job(model: str, **options: Any) -> SeparationRequested:
        cmd = command(ref, model=model, stems=stems, **options)
        return cmd.model_copy(update={"output": FLOAT_WAV})

    alone = [await completed(worker, job(m)) for m in ("htdemucs", "bs_roformer_4stem")]
    ensemble = "ensemble:htdemucs+bs_roformer_4stem"
    mean = await completed(worker, job(ensemble))
    weights = {"htdemucs": {"vocals": 3.0}, "bs_roformer_4stem": {"drums": 0.0}}
    weighted = await completed(worker, job(ensemble, ensemble_weights=weights))
    assert mean.details["members"] == [
        {"model": "htdemucs", "shifts": 0, "overlap": 0.25},
        {"model": "bs_roformer_4stem", "shifts": 0, "overlap": 0.75},
    ]
    store = worker.store
    for stem in stems:
        a, b = (read_stem(store, fact, f"{stem}.wav") for fact in alone)
        assert np.abs(read_stem(store, mean, f"{stem}.wav") - (a + b) / 2).max() < 1e-5
        assert np.abs(a - b).max() > 1e-3  # the members differ: the mean is no accident
    a, b = (read_stem(store, fact, "vocals.wav") for fact in alone)
    assert np.abs(read_stem(store, weighted, "vocals.wav") - (3 * a + b) / 4).max() < 1e-5
    drums = read_stem(store, alone[0], "drums.wav")
    assert np.abs(read_stem(store, weighted, "drums.wav") - drums).max() < 1e-6

    # Shifts go to the members that take them: the Demucs one.
    shifted = await completed(worker, job(ensemble, shifts=2, seed=3))
    assert [m["shifts"] for m in shifted.details["members"]] == [2, 0]


@pytest.mark.parametrize(
    ("model", "options", "reason"),
    [
        ("bs_roformer_vocals", {"shifts": 2}, "shifts apply to Demucs models"),
        ("ensemble:htdemucs+nope", {}, "the ensemble's model 'nope' is unknown"),
        ("ensemble:htdemucs", {}, "an ensemble has 2 to 4 models, not 1"),
        (
            "ensemble:htdemucs+bs_roformer_vocals",
            {"ensemble_weights": {"htdemucs": {"instrumental": 1.0}}},
            "htdemucs has no instrumental stem",
        ),
        (
            "ensemble:htdemucs+htdemucs_ft+classical",
            {"shifts": 10, "overlap": 0.5},
            "the work of 45 passes of a model; at most 30",
        ),
    ],
)
async def test_ensembles_and_options_the_worker_cannot_run_fail_with_a_reason(
    worker: WorkerRuntime, tmp_path: Path, model: str, options: dict[str, Any], reason: str
) -> None:
    assert isinstance(worker.store, LocalObjectStore)
    ref = await stored_input(worker.store, write_noise(tmp_path / "in.wav", 1.0))
    cmd = command(ref, model=model, **options)
    await worker.bus.publish(cmd)
    (fact,) = await facts_for(worker.broker.connection.jetstream(), cmd.job_id)
    assert isinstance(fact, SeparationFailed)
    assert reason in fact.reason
