"""The render worker as deployed (its three subscriptions) against a real nats-server:
render, mix and master commands, a routing slip across them, and failures with reasons."""

from __future__ import annotations

import asyncio
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.envelope import Event
from cadenza.contracts.pipeline import MasterParams, MasterStep, MixParams, RenderParams
from cadenza.contracts.render import (
    MasterCompleted,
    MasterFailed,
    MasterRequested,
    MixCompleted,
    MixFailed,
    MixRequested,
    RenderCompleted,
    RenderFailed,
    RenderRequested,
)
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.render.app import install
from cadenza.render.settings import Settings
from cadenza.runtime.model_registry import SoundFontRegistry
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import object_key

FACTS: dict[str, Any] = {
    "render.completed": RenderCompleted,
    "render.failed": RenderFailed,
    "render.mix.completed": MixCompleted,
    "render.mix.failed": MixFailed,
    "render.master.completed": MasterCompleted,
    "render.master.failed": MasterFailed,
}


@pytest.fixture
async def worker(fresh_nats: NatsServer, tmp_path: Path) -> AsyncIterator[WorkerRuntime]:
    settings = Settings(nats_url=fresh_nats.url, storage_dir=tmp_path / "store", ack_wait_s=5)
    runtime = WorkerRuntime(settings, "render-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        yield runtime


async def stored(
    runtime: WorkerRuntime, path: Path, media_type: str, name: str | None = None
) -> ArtifactRef:
    key = object_key("alice", "uploads", name or path.name)
    done = await runtime.store.put_file(key, path, media_type)
    return ArtifactRef(uri=done.uri, media_type=media_type, bytes=done.bytes, sha256=done.sha256)


async def facts_for(runtime: WorkerRuntime, job_id: uuid.UUID, count: int = 1) -> list[Event]:
    js = runtime.broker.connection.jetstream()
    deadline = time.monotonic() + 60
    while True:
        found: list[Event] = []
        for subject, cls in FACTS.items():
            found += [
                e
                for m in await stream_messages(js, subject, timeout_s=0.3)
                if (e := cls.model_validate_json(m.data)).job_id == job_id
            ]
        if len(found) >= count or time.monotonic() > deadline:
            return sorted(found, key=lambda e: e.occurred_at)
        await asyncio.sleep(0.2)


def local(runtime: WorkerRuntime, ref: ArtifactRef) -> Path:
    return Path(ref.uri.removeprefix("file://"))


async def test_render_writes_the_mix_every_stem_the_effects_return_and_a_zip(
    worker: WorkerRuntime, band_midi: Path
) -> None:
    midi = await stored(worker, band_midi, "audio/midi")
    command = RenderRequested(
        job_id=uuid.uuid4(), correlation_id=uuid.uuid4(), owner="alice", input=midi
    )
    await worker.bus.publish(command)
    [fact] = await facts_for(worker, command.job_id)
    assert isinstance(fact, RenderCompleted), fact
    names = set(fact.outputs)
    assert {"mix.wav", "stems.zip", "effects.wav"} <= names
    stems = names - {"mix.wav", "stems.zip"}
    assert len(stems) == 4  # three parts and the reverb/chorus return
    with zipfile.ZipFile(local(worker, fact.outputs["stems.zip"])) as archive:
        assert set(archive.namelist()) == stems
    mix = fact.outputs["mix.wav"]
    assert mix.channels == 2 and mix.sample_rate == 44100
    assert 12.0 <= (mix.duration_s or 0) <= 15.0
    assert fact.details["soundfont"] == "TimGM6mb.sf2"
    assert [t["stem"] for t in fact.details["tracks"]]


async def test_a_preview_writes_only_the_beginning_as_preview_mp3(
    worker: WorkerRuntime, band_midi: Path
) -> None:
    midi = await stored(worker, band_midi, "audio/midi")
    params = RenderParams.preview().model_copy(update={"preview_seconds": 5.0})
    command = RenderRequested(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        owner="alice",
        input=midi,
        stage="preview",
        params=params,
    )
    await worker.bus.publish(command)
    [fact] = await facts_for(worker, command.job_id)
    assert isinstance(fact, RenderCompleted), fact
    assert (set(fact.outputs), fact.stage) == ({"preview.mp3"}, "preview")
    preview = fact.outputs["preview.mp3"]
    assert preview.media_type == "audio/mpeg" and preview.channels == 2
    assert 5.0 < (preview.duration_s or 0) < 8.5
    assert fact.details["preview_of_s"] == 5.0
    audio, _ = sf.read(local(worker, preview))
    assert np.abs(audio).max() > 0.05


async def test_a_slip_runs_render_then_mix_then_master_in_this_one_worker(
    worker: WorkerRuntime, band_midi: Path
) -> None:
    midi = await stored(worker, band_midi, "audio/midi")
    command = RenderRequested(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        owner="alice",
        input=midi,
        params=RenderParams(sample_rate=48000),
        output_prefix="render-",
        slip=(MasterStep(stage="master", params=MasterParams(preset="apple")),),
    )
    await worker.bus.publish(command)
    render, master = await facts_for(worker, command.job_id, count=2)
    assert isinstance(render, RenderCompleted) and not render.job_finished
    assert "render-mix.wav" in render.outputs
    assert isinstance(master, MasterCompleted) and master.job_finished
    assert set(master.outputs) == {"mastered.wav"}
    audio, rate = sf.read(str(local(worker, master.outputs["mastered.wav"])))
    assert rate == 48000
    assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-16, abs=0.5)
    assert master.details["lufs"] == pytest.approx(-16, abs=0.1)
    # Before and after: the mix as it came in, measured like the master.
    mix, _ = sf.read(str(local(worker, render.outputs["render-mix.wav"])))
    assert master.details["input_lufs"] == pytest.approx(
        pyloudnorm.Meter(rate).integrated_loudness(mix), abs=0.05
    )
    assert -30 < master.details["input_true_peak_db"] <= 0.5


async def test_mix_sums_the_stems_with_gains(worker: WorkerRuntime, tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate * 2) / rate
    refs = {}
    for name, freq in (("piano", 440.0), ("bass", 110.0)):
        path = tmp_path / f"{name}.wav"
        sf.write(path, np.stack([0.2 * np.sin(2 * np.pi * freq * t)] * 2, axis=1), rate)
        refs[name] = await stored(worker, path, "audio/wav")
    command = MixRequested(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        owner="alice",
        inputs=refs,
        params=MixParams(gains_db={"bass": -6.0}),
    )
    await worker.bus.publish(command)
    [fact] = await facts_for(worker, command.job_id)
    assert isinstance(fact, MixCompleted), fact
    mixed, _ = sf.read(str(local(worker, fact.outputs["mix.wav"])))
    expected = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.2 * 10 ** (-6 / 20) * np.sin(
        2 * np.pi * 110 * t
    )
    assert np.max(np.abs(mixed[:, 0] - expected)) < 1e-3


async def test_failures_say_why(worker: WorkerRuntime, band_midi: Path, tmp_path: Path) -> None:
    midi = await stored(worker, band_midi, "audio/midi")
    unknown_font = RenderRequested(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        owner="alice",
        input=midi,
        params=RenderParams(soundfont="Nope"),
    )
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    bad_midi = RenderRequested(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        owner="alice",
        input=await stored(worker, broken, "audio/midi"),
    )
    not_audio = MasterRequested(
        job_id=uuid.uuid4(), correlation_id=uuid.uuid4(), owner="alice", input=midi
    )
    for command in (unknown_font, bad_midi, not_audio):
        await worker.bus.publish(command)
    reasons = {}
    for command in (unknown_font, bad_midi, not_audio):
        [fact] = await facts_for(worker, command.job_id)
        assert isinstance(fact, (RenderFailed, MasterFailed)), fact
        assert fact.code == "invalid_input"
        reasons[command.job_id] = fact.reason
    assert "unknown soundfont 'Nope'; available: TimGM6mb" in reasons[unknown_font.job_id]
    assert "MIDI" in reasons[bad_midi.job_id]
    assert reasons[not_audio.job_id]
    # Nothing half-written is left behind for the failed jobs.
    for command in (unknown_font, bad_midi, not_audio):
        assert not list((tmp_path / "store" / "alice" / str(command.job_id)).glob("*"))


async def test_the_worker_advertises_its_soundfonts(worker: WorkerRuntime) -> None:
    registry = SoundFontRegistry(worker.broker.connection.jetstream(), cache_s=0)
    deadline = time.monotonic() + 10
    while not (fonts := await registry.available()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert fonts["TimGM6mb"].default and fonts["TimGM6mb"].bytes > 1_000_000
