"""The catalog worker as deployed (its subscriber and responders) against a real nats-server,
a real PostgreSQL with pgvector, and local or S3 storage."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cadenza.catalog.app import install
from cadenza.catalog.settings import Settings
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.catalog import (
    CatalogIngestFailed,
    CatalogIngestRequested,
    CatalogQuery,
    CatalogSongIngested,
    QueryReply,
    SongGet,
    SongMetadata,
    SongSearch,
    SongSimilar,
)
from cadenza.contracts.envelope import Event
from cadenza.devstack.music import song_midi
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import object_key


def make_settings(nats_url: str, dsn: str, **overrides: Any) -> Settings:
    return Settings(nats_url=nats_url, database_url=dsn, ack_wait_s=10, **overrides)


@pytest.fixture
async def worker(
    fresh_nats: NatsServer, fresh_database: str, tmp_path: Path
) -> AsyncIterator[WorkerRuntime]:
    settings = make_settings(fresh_nats.url, fresh_database, storage_dir=tmp_path / "store")
    runtime = WorkerRuntime(settings, "catalog-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        yield runtime


async def store_midi(runtime: WorkerRuntime, data: bytes, owner: str = "alice") -> ArtifactRef:
    tmp = Path(tempfile.mkdtemp()) / "song.mid"
    tmp.write_bytes(data)
    stored = await runtime.store.put_file(
        object_key(owner, "uploads", uuid.uuid4().hex, "song.mid"), tmp, "audio/midi", move=True
    )
    return ArtifactRef(
        uri=stored.uri, media_type="audio/midi", bytes=stored.bytes, sha256=stored.sha256
    )


def ingest_command(
    ref: ArtifactRef, title: str, owner: str = "alice", **meta: Any
) -> CatalogIngestRequested:
    return CatalogIngestRequested(
        job_id=uuid.uuid4(),
        owner=owner,
        correlation_id=uuid.uuid4(),
        metadata=SongMetadata(title=title, **meta),
        midi=ref,
        midi_filename=f"{title}.mid",
    )


async def facts_for(
    runtime: WorkerRuntime, job_id: uuid.UUID, timeout_s: float = 30
) -> list[Event]:
    js = runtime.broker.connection.jetstream()
    deadline = time.monotonic() + timeout_s
    while True:
        found: list[Event] = []
        for subject, cls in (
            (CatalogSongIngested.subject, CatalogSongIngested),
            (CatalogIngestFailed.subject, CatalogIngestFailed),
        ):
            for msg in await stream_messages(js, subject, timeout_s=0.5):
                event = cls.model_validate_json(msg.data)
                if event.job_id == job_id:
                    found.append(event)
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def ask(runtime: WorkerRuntime, query: CatalogQuery) -> QueryReply:
    msg = await runtime.broker.connection.request(
        query.subject(), query.model_dump_json().encode(), timeout=10
    )
    return QueryReply.model_validate_json(msg.data)


async def ingest(
    runtime: WorkerRuntime, data: bytes, title: str, **meta: Any
) -> CatalogSongIngested:
    command = ingest_command(
        await store_midi(runtime, data, meta.pop("owner", "alice")), title, **meta
    )
    await runtime.bus.publish(command)
    (fact,) = await facts_for(runtime, command.job_id)
    assert isinstance(fact, CatalogSongIngested), fact
    return fact


async def test_a_midi_song_is_analysed_stored_and_found(worker: WorkerRuntime) -> None:
    fact = await ingest(worker, song_midi(seed=1, tempo=96), "Morning Chorale", artist="Anna")
    assert fact.details["created"] is True
    assert fact.outputs["song.mid"].uri.endswith(f"/songs/{fact.song_id}/song.mid")

    reply = await ask(worker, SongGet(principal="alice", song_id=fact.song_id))
    assert reply.error is None and reply.result is not None
    song = reply.result
    assert song["title"] == "Morning Chorale"
    assert song["tempo_bpm"] == pytest.approx(96, abs=0.5)
    assert (song["key"], song["mode"]) == ("C", "major")
    assert song["time_signature"] == "4/4"
    assert song["assets"][0]["name"] == "midi"

    found = await ask(worker, SongSearch(principal="alice", q="mornin choral"))
    assert found.result is not None
    assert [hit["song"]["id"] for hit in found.result["items"]] == [str(fact.song_id)]


async def test_other_owners_do_not_see_private_songs(worker: WorkerRuntime) -> None:
    fact = await ingest(worker, song_midi(seed=2), "Secret Song")
    reply = await ask(worker, SongGet(principal="bob", song_id=fact.song_id))
    assert reply.error is not None and reply.error.status == 404
    search = await ask(worker, SongSearch(principal="bob", q="secret song"))
    assert search.result is not None and search.result["items"] == []
    public = await ingest(worker, song_midi(seed=3), "Open Song", public=True)
    seen = await ask(worker, SongGet(principal="bob", song_id=public.song_id))
    assert seen.result is not None and seen.result["public"] is True


async def test_the_same_file_again_returns_the_existing_song(worker: WorkerRuntime) -> None:
    data = song_midi(seed=4)
    first = await ingest(worker, data, "Twice")
    again = await ingest(worker, data, "Twice again")
    assert again.song_id == first.song_id
    assert again.details["created"] is False


async def test_a_redelivered_command_makes_one_song(worker: WorkerRuntime) -> None:
    command = ingest_command(await store_midi(worker, song_midi(seed=5)), "Once")
    await worker.bus.publish(command)
    (first,) = await facts_for(worker, command.job_id)
    # The same command again, past JetStream's duplicate detection (a new message id).
    js = worker.broker.connection.jetstream()
    await js.publish(command.subject, command.model_dump_json().encode())
    await asyncio.sleep(1.0)
    facts = await facts_for(worker, command.job_id)
    assert {f.event_id for f in facts} == {first.event_id}
    assert isinstance(first, CatalogSongIngested)
    count = await ask(worker, SongSearch(principal="alice", q="once"))
    assert count.result is not None and count.result["total"] == 1


async def test_the_transposed_copy_is_the_nearest_neighbour(worker: WorkerRuntime) -> None:
    original = await ingest(worker, song_midi(seed=6, tempo=110), "Original")
    copy = await ingest(worker, song_midi(seed=6, tempo=110, transpose=5), "Transposed")
    for seed, minor, tempo in ((7, True, 70), (8, False, 150), (9, True, 125)):
        await ingest(
            worker, song_midi(seed=seed, minor=minor, tempo=tempo, bars=12), f"Other {seed}"
        )
    reply = await ask(worker, SongSimilar(principal="alice", song_id=original.song_id, k=3))
    assert reply.result is not None
    items = reply.result["items"]
    assert items[0]["song"]["id"] == str(copy.song_id)
    assert items[0]["score"] > items[1]["score"]
    # Near-identical: flagged as a near-duplicate when it was ingested.
    assert copy.details["near_duplicate_of"] == str(original.song_id)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"MThd" + b"\x00" * 20, "midi"),
        (b"MThd" + bytes(40), "midi"),
        (b"this is not music at all", "midi"),
    ],
)
async def test_garbage_midi_fails_the_job_with_a_reason(
    worker: WorkerRuntime, data: bytes, words: str
) -> None:
    command = ingest_command(await store_midi(worker, data), "Garbage")
    await worker.bus.publish(command)
    (fact,) = await facts_for(worker, command.job_id)
    assert isinstance(fact, CatalogIngestFailed)
    assert fact.code == "invalid_input"
    assert words in fact.reason.lower()


async def test_the_worker_reads_and_writes_through_s3(
    fresh_nats: NatsServer, fresh_database: str, s3_endpoint: str, unique: str, tmp_path: Path
) -> None:
    settings = make_settings(
        fresh_nats.url,
        fresh_database,
        storage_backend="s3",
        s3_bucket=f"catalog-{unique}",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_create_bucket=True,
        storage_dir=tmp_path / "unused",
    )
    runtime = WorkerRuntime(settings, "catalog-s3-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        data = song_midi(seed=10)
        fact = await ingest(runtime, data, "Through S3")
        ref = fact.outputs["song.mid"]
        key = f"alice/songs/{fact.song_id}/song.mid"
        assert ref.uri == f"s3://catalog-{unique}/{key}"
        async with runtime.store.local_copy(key) as path:
            assert path.read_bytes() == data
