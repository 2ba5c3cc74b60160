"""The composition worker as deployed against a real nats-server: a blend of real chorales
stored as artifacts and described in its fact, and a damaged source failing with a reason."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pretty_midi
import pytest

from cadenza.composition.app import install
from cadenza.composition.engine import SourceSong
from cadenza.composition.settings import Settings
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.composition import (
    BlendSettings,
    BlendSource,
    CompositionCompleted,
    CompositionFailed,
    CompositionRequested,
)
from cadenza.contracts.envelope import Event
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import object_key


@pytest.fixture
async def worker(fresh_nats: NatsServer, tmp_path: Path) -> AsyncIterator[WorkerRuntime]:
    settings = Settings(nats_url=fresh_nats.url, storage_dir=tmp_path / "store", ack_wait_s=5)
    runtime = WorkerRuntime(settings, "composition-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        yield runtime


async def source(runtime: WorkerRuntime, title: str, midi: bytes, tmp_path: Path) -> BlendSource:
    path = tmp_path / f"{uuid.uuid4().hex}.mid"
    path.write_bytes(midi)
    done = await runtime.store.put_file(
        object_key("public", "songs", path.stem, "song.mid"), path, "audio/midi"
    )
    ref = ArtifactRef(uri=done.uri, media_type="audio/midi", bytes=done.bytes, sha256=done.sha256)
    return BlendSource(song_id=uuid.uuid4(), title=title, artist="J. S. Bach", midi=ref)


async def fact_for(runtime: WorkerRuntime, job_id: uuid.UUID) -> Event:
    js = runtime.broker.connection.jetstream()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for subject, cls in (
            ("composition.completed", CompositionCompleted),
            ("composition.failed", CompositionFailed),
        ):
            for m in await stream_messages(js, subject, timeout_s=0.3):
                if (event := cls.model_validate_json(m.data)).job_id == job_id:
                    return event
        await asyncio.sleep(0.2)
    raise AssertionError(f"no fact for job {job_id}")


def read(ref: ArtifactRef) -> bytes:
    return Path(ref.uri.removeprefix("file://")).read_bytes()


async def test_a_blend_is_stored_and_summarised(
    worker: WorkerRuntime, chorales: list[SourceSong], tmp_path: Path
) -> None:
    sources = tuple([await source(worker, s.title, s.midi, tmp_path) for s in chorales[:2]])
    command = CompositionRequested(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        owner="alice",
        sources=sources,
        settings=BlendSettings(
            length_bars=8, key="G major", tempo_bpm=110, seed=3, engine="markov"
        ),
    )
    await worker.bus.publish(command)
    fact = await fact_for(worker, command.job_id)
    assert isinstance(fact, CompositionCompleted), fact
    assert set(fact.outputs) == {"blend.mid", "blend.musicxml", "summary.json"}
    midi = pretty_midi.PrettyMIDI(io.BytesIO(read(fact.outputs["blend.mid"])))
    assert midi.get_tempo_changes()[1][0] == pytest.approx(110, abs=0.01)  # µs per beat
    assert fact.outputs["blend.mid"].duration_s == pytest.approx(8 * 4 * 60 / 110, abs=0.01)
    summary = json.loads(read(fact.outputs["summary.json"]))
    assert summary["key_name"] == "G major" and summary["bars"] == 8
    assert [s["song_id"] for s in summary["sources"]] == [str(s.song_id) for s in sources]
    assert summary["sources"][0]["chords_learnt"] > 0  # the engine's figures are kept
    assert "chords" not in fact.details and fact.details["originality"]["passed"]
    assert b"<score-partwise" in read(fact.outputs["blend.musicxml"])


async def test_a_damaged_source_fails_the_job_naming_the_song(
    worker: WorkerRuntime, chorales: list[SourceSong], tmp_path: Path
) -> None:
    good = await source(worker, chorales[0].title, chorales[0].midi, tmp_path)
    bad = await source(worker, "Broken Song", b"MThd\x00\x00\x00\x06garbage", tmp_path)
    command = CompositionRequested(
        job_id=uuid.uuid4(), correlation_id=uuid.uuid4(), owner="alice", sources=(good, bad)
    )
    await worker.bus.publish(command)
    fact = await fact_for(worker, command.job_id)
    assert isinstance(fact, CompositionFailed), fact
    assert "Broken Song" in fact.reason and fact.code == "invalid_input"
    assert not (tmp_path / "store" / "alice" / str(command.job_id)).exists()
