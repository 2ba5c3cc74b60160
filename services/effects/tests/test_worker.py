"""The effects worker as deployed (its own subscriber config) against a real nats-server."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from cadenza.contracts import (
    EffectsCompleted,
    EffectsFailed,
    EffectsRequested,
    Event,
    OutputFormat,
)
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import rms_db, stream_messages, write_tone
from cadenza.effects import app, processing
from cadenza.effects.app import install
from cadenza.effects.settings import Settings
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import object_key


@pytest.fixture
async def worker(fresh_nats: NatsServer, tmp_path: Path) -> AsyncIterator[WorkerRuntime]:
    settings = Settings(nats_url=fresh_nats.url, storage_dir=tmp_path / "store", ack_wait_s=5)
    runtime = WorkerRuntime(settings, "effects-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        yield runtime


async def store_input(runtime: WorkerRuntime, path: Path, owner: str = "alice") -> ArtifactRef:
    stored = await runtime.store.put_file(object_key(owner, "uploads", "in.wav"), path, "audio/wav")
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


async def facts_for(
    runtime: WorkerRuntime, job_id: uuid.UUID, timeout_s: float = 15
) -> list[Event]:
    js = runtime.broker.connection.jetstream()
    deadline = time.monotonic() + timeout_s
    while True:
        found: list[Event] = []
        for subject, cls in (
            ("effects.completed", EffectsCompleted),
            ("effects.failed", EffectsFailed),
        ):
            found += [
                e
                for m in await stream_messages(js, subject, timeout_s=0.3)
                if (e := cls.model_validate_json(m.data)).job_id == job_id
            ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_command_delivered_twice_yields_one_artifact_and_one_fact(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    ref = await store_input(worker, write_tone(tmp_path / "in.wav", 2.0))
    command = EffectsRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=ref,
        chain=[{"type": "gain", "gain_db": -6}],
        output=OutputFormat(format="flac"),
    )
    js = worker.broker.connection.jetstream()
    # Two deliveries of the same command (as after a lost ack): distinct message ids get
    # both past the duplicate window, so the worker really processes it twice.
    for _ in range(2):
        await js.publish(
            command.subject,
            command.model_dump_json().encode(),
            headers={"Nats-Msg-Id": uuid.uuid4().hex},
        )
    facts = await facts_for(worker, command.job_id)
    await asyncio.sleep(1.5)  # time for the second delivery to finish and try to publish
    facts = await facts_for(worker, command.job_id)
    assert len(facts) == 1
    (fact,) = facts
    assert isinstance(fact, EffectsCompleted)
    artifact = fact.outputs["processed.flac"]
    job_dir = tmp_path / "store" / "alice" / str(command.job_id)
    assert [p.name for p in job_dir.iterdir()] == ["processed.flac"]
    assert not any((tmp_path / "store" / ".tmp").iterdir()), "no half-written leftovers"
    data, rate = sf.read(str(job_dir / "processed.flac"), dtype="float32")
    assert (rate, data.shape[1], artifact.sample_rate, artifact.channels) == (44100, 2, 44100, 2)
    assert artifact.duration_s == pytest.approx(2.0)
    assert rms_db(data) == pytest.approx(rms_db(sf.read(str(tmp_path / "in.wav"))[0]) - 6, abs=0.1)


async def test_undecodable_input_fails_the_job_with_a_reason(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio" * 50)
    stored = await worker.store.put_file(object_key("alice", "uploads", "junk"), junk, "audio/wav")
    command = EffectsRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=ArtifactRef(
            uri=stored.uri, media_type="audio/wav", bytes=stored.bytes, sha256=stored.sha256
        ),
        chain=[{"type": "reverb"}],
    )
    await worker.bus.publish(command)
    (fact,) = await facts_for(worker, command.job_id)
    assert isinstance(fact, EffectsFailed)
    assert fact.code == "invalid_input"
    assert "not decodable audio" in fact.reason
    assert str(tmp_path) not in fact.reason


async def test_an_input_outside_the_store_is_refused(worker: WorkerRuntime) -> None:
    command = EffectsRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=ArtifactRef(
            uri="file:///etc/passwd", media_type="audio/wav", bytes=1, sha256="0" * 64
        ),
        chain=[{"type": "gain"}],
    )
    await worker.bus.publish(command)
    (fact,) = await facts_for(worker, command.job_id)
    assert isinstance(fact, EffectsFailed)
    assert "not in this service's storage" in fact.reason


async def test_the_worker_reads_and_writes_through_s3(
    fresh_nats: NatsServer, s3_endpoint: str, unique: str, tmp_path: Path
) -> None:
    settings = Settings(
        nats_url=fresh_nats.url,
        storage_backend="s3",
        s3_bucket=f"effects-{unique}",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_create_bucket=True,
    )
    runtime = WorkerRuntime(settings, "effects-s3-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        ref = await store_input(runtime, write_tone(tmp_path / "in.wav", 1.5))
        assert ref.uri.startswith(f"s3://effects-{unique}/")
        command = EffectsRequested(
            job_id=uuid.uuid4(),
            owner="alice",
            correlation_id=uuid.uuid4(),
            input=ref,
            chain=[{"type": "gain", "gain_db": -6}],
            output=OutputFormat(format="ogg"),
        )
        await runtime.bus.publish(command)
        (fact,) = await facts_for(runtime, command.job_id)
        assert isinstance(fact, EffectsCompleted)
        artifact = fact.outputs["processed.ogg"]
        key = f"alice/{command.job_id}/processed.ogg"
        assert artifact.uri == f"s3://effects-{unique}/{key}"
        assert await runtime.store.size(key) == artifact.bytes
        async with runtime.store.local_copy(key) as path:
            info = sf.info(str(path))
        assert (info.format, info.samplerate, info.channels) == ("OGG", 44100, 2)
        assert info.duration == pytest.approx(1.5, abs=0.05)


async def test_a_short_job_runs_on_the_event_loop_and_a_long_one_in_a_thread(
    worker: WorkerRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same chain over 1 s (priced well under INLINE_WORK_MS) and over 20 s: both
    processed right (−6 dB), the first on the loop's own thread, the second in another."""
    threads: list[int] = []
    original = processing.apply_chain

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(app, "apply_chain", watched)  # as app.py calls it
    loop_thread = threading.get_ident()  # the worker runs in this test's event loop
    for seconds in (1.0, 20.0):
        source = write_tone(tmp_path / f"in-{seconds:g}.wav", seconds)
        command = _command_over(
            await store_input(worker, source), [{"type": "gain", "gain_db": -6}]
        )
        await worker.bus.publish(command)
        (fact,) = await facts_for(worker, command.job_id)
        assert isinstance(fact, EffectsCompleted)
        (out,) = fact.outputs.values()
        audio, _ = sf.read(str(Path(out.uri.removeprefix("file://"))))
        original_audio, _ = sf.read(str(source))
        assert rms_db(audio) == pytest.approx(rms_db(original_audio) - 6.0, abs=0.1)
    assert threads[0] == loop_thread, "1 s of gain is short: run on the event loop"
    assert threads[1] != loop_thread, "20 s goes to a work thread"


def _command_over(ref: ArtifactRef, chain: list[dict[str, Any]], **fields: Any) -> EffectsRequested:
    return EffectsRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=ref,
        chain=chain,
        **fields,
    )


def test_what_runs_inline_is_priced_before_it_starts() -> None:
    settings = Settings()
    wav = ArtifactRef(
        uri="file:///store/in.wav",
        media_type="audio/wav",
        bytes=176_444,
        sha256="0" * 64,
        duration_s=1.0,
        sample_rate=44100,
        channels=2,
    )
    never: Callable[[], bool] = lambda: False  # noqa: E731
    gain = [{"type": "gain", "gain_db": -3}]
    assert app.runs_inline(_command_over(wav, gain), settings, never)
    # A chain priced past the limit: pitch shifting (500 ns a sample, with its context).
    assert not app.runs_inline(_command_over(wav, [{"type": "pitch_shift"}]), settings, never)
    # Longer audio, a compressed input or output, or an input of unknown length.
    long_wav = wav.model_copy(update={"duration_s": 10.0})
    assert not app.runs_inline(_command_over(long_wav, gain), settings, never)
    flac = wav.model_copy(update={"media_type": "audio/flac"})
    assert not app.runs_inline(_command_over(flac, gain), settings, never)
    to_mp3 = _command_over(wav, gain, output=OutputFormat(format="mp3"))
    assert not app.runs_inline(to_mp3, settings, never)
    unknown = wav.model_copy(update={"duration_s": None})
    assert not app.runs_inline(_command_over(unknown, gain), settings, never)
    # A live session open on this worker, or the setting at 0: a thread.
    assert not app.runs_inline(_command_over(wav, gain), settings, lambda: True)
    off = Settings(inline_work_ms=0)
    assert not app.runs_inline(_command_over(wav, gain), off, never)
