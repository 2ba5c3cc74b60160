"""Both storage backends behave the same: the local directory and S3 (moto server)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cadenza.runtime.storage import (
    InvalidKeyError,
    LocalObjectStore,
    ObjectNotFoundError,
    ObjectStore,
    S3ObjectStore,
    object_key,
    validate_key,
)


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str, unique: str
) -> AsyncIterator[ObjectStore]:
    backend: ObjectStore
    if request.param == "local":
        backend = LocalObjectStore(tmp_path / "objects")
    else:
        backend = S3ObjectStore(
            f"bucket-{unique}",
            endpoint_url=s3_endpoint,
            access_key_id="test",
            secret_access_key="test",
            create_bucket=True,
            scratch_dir=tmp_path / "scratch",
        )
    async with backend:
        yield backend


async def collect(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([block async for block in store.read_range(key, start, end)])


async def test_put_file_stores_bytes_with_their_hash(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(700_000)
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    stored = await store.put_file("alice/job-1/in.wav", source, "audio/wav")
    assert stored.bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.key_for(stored.uri) == "alice/job-1/in.wav"
    assert await store.size("alice/job-1/in.wav") == len(data)
    assert await collect(store, "alice/job-1/in.wav") == data
    assert source.exists(), "put_file without move keeps the source"


async def test_ranges_return_exactly_the_requested_bytes(
    store: ObjectStore, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4000
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    await store.put_file("alice/j/r.bin", source, "application/octet-stream")
    assert await collect(store, "alice/j/r.bin", 10, 20) == data[10:20]
    assert await collect(store, "alice/j/r.bin", 1000) == data[1000:]
    assert await collect(store, "alice/j/r.bin", 300_000, 700_000) == data[300_000:700_000]


async def test_writer_commits_only_on_clean_exit(store: ObjectStore) -> None:
    async with store.writer("alice/j/out.wav", "audio/wav") as pending:
        pending.path.write_bytes(b"complete")
    assert pending.result().bytes == 8
    assert await collect(store, "alice/j/out.wav") == b"complete"

    scratch: list[Path] = []

    async def crash_while_writing() -> None:
        async with store.writer("alice/j/half.wav", "audio/wav") as half:
            scratch.append(half.path)
            half.path.write_bytes(b"half")
            raise RuntimeError("worker died")

    with pytest.raises(RuntimeError, match="worker died"):
        await crash_while_writing()
    assert not await store.exists("alice/j/half.wav")
    assert not scratch[0].exists()


async def test_rewriting_a_key_replaces_it_whole(store: ObjectStore) -> None:
    for content in (b"first version", b"second"):
        async with store.writer("alice/j/x.wav", "audio/wav") as pending:
            pending.path.write_bytes(content)
    assert await collect(store, "alice/j/x.wav") == b"second"


async def test_copies_are_whole_and_independent(store: ObjectStore) -> None:
    async with store.writer("alice/cache/x/vocals.wav", "audio/wav") as pending:
        pending.path.write_bytes(b"stem bytes")
    original = pending.result()
    copied = await store.copy("alice/cache/x/vocals.wav", "alice/job/vocals.wav", "audio/wav")
    assert (copied.bytes, copied.sha256) == (original.bytes, original.sha256)
    assert await collect(store, "alice/job/vocals.wav") == b"stem bytes"
    await store.delete("alice/cache/x/vocals.wav")
    assert await collect(store, "alice/job/vocals.wav") == b"stem bytes"
    with pytest.raises(ObjectNotFoundError):
        await store.copy("alice/cache/none.wav", "alice/job/none.wav", "audio/wav")


async def test_local_copy_and_missing_objects(store: ObjectStore) -> None:
    async with store.writer("alice/j/c.wav", "audio/wav") as pending:
        pending.path.write_bytes(b"abc")
    async with store.local_copy("alice/j/c.wav") as path:
        assert path.read_bytes() == b"abc"
    with pytest.raises(ObjectNotFoundError):
        await store.size("alice/j/missing.wav")
    with pytest.raises(ObjectNotFoundError):
        async with store.local_copy("alice/j/missing.wav"):
            pass
    assert not await store.exists("alice/j/missing.wav")
    await store.delete("alice/j/c.wav")
    assert not await store.exists("alice/j/c.wav")
    await store.ping()


async def test_uris_from_elsewhere_are_refused(store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="not in"):
        store.key_for("s3://some-other-bucket/alice/x.wav")
    with pytest.raises(ValueError, match="not in"):
        store.key_for("file:///etc/passwd")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "alice/../../etc/passwd",
        "alice//x",
        "/abs",
        "alice/x/",
        "a/.hidden",
        "a\x00b",
        "a/b c",
        "x" * 1100,
    ],
)
def test_path_like_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(key)


def test_keys_are_built_from_plain_segments() -> None:
    assert object_key("alice", "3f2", "processed.wav") == "alice/3f2/processed.wav"


async def test_local_store_never_writes_outside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    async with LocalObjectStore(root) as store:
        with pytest.raises(InvalidKeyError):
            async with store.writer("../escape.wav", "audio/wav") as pending:
                pending.path.write_bytes(b"x")
    assert not (tmp_path / "escape.wav").exists()
    assert sorted(p.name for p in root.iterdir()) == [".tmp"]


async def test_staging_left_by_a_crashed_writer_is_swept(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root", stale_after_s=3600)
    await store.start()
    stale = tmp_path / "root" / ".tmp" / "crashed-writer"
    stale.write_bytes(b"half a stem")
    os.utime(stale, (0, 0))  # last written long ago
    fresh = tmp_path / "root" / ".tmp" / "busy-writer"
    fresh.write_bytes(b"being written")
    await LocalObjectStore(tmp_path / "root", stale_after_s=3600).start()  # a restart
    assert not stale.exists()
    assert fresh.exists(), "a file still being written is left alone"


async def test_listing_shows_committed_objects_under_a_prefix(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"12345")
    prefix = f"list-{uuid.uuid4().hex[:6]}"
    await store.put_file(f"{prefix}/a/one.bin", source, "application/octet-stream")
    await store.put_file(f"{prefix}/b/two.bin", source, "application/octet-stream")
    with contextlib.suppress(RuntimeError):
        async with store.writer(f"{prefix}/a/never.bin", "application/octet-stream") as pending:
            pending.path.write_bytes(b"half")
            raise RuntimeError("the writer crashed")
    listed = [o async for o in store.list_objects(f"{prefix}/")]
    assert sorted(o.key for o in listed) == [f"{prefix}/a/one.bin", f"{prefix}/b/two.bin"]
    assert {o.bytes for o in listed} == {5}
    assert all(o.modified > 1_700_000_000 for o in listed)
    assert [o.key async for o in store.list_objects(f"{prefix}/b/")] == [f"{prefix}/b/two.bin"]


async def test_only_s3_signs_download_urls_serving_the_bytes_named_and_typed(
    store: ObjectStore, tmp_path: Path
) -> None:
    data = os.urandom(4096)
    source = tmp_path / "take.wav"
    source.write_bytes(data)
    await store.put_file("alice/j/take.wav", source, "audio/wav")
    disposition = 'attachment; filename="take 1.wav"'
    url = await store.download_url(
        "alice/j/take.wav", media_type="audio/wav", disposition=disposition, expires_s=60
    )
    if isinstance(store, LocalObjectStore):
        assert url is None  # the gateway streams local files itself
        return
    assert url is not None
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    async with httpx.AsyncClient() as anyone:
        fetched = await anyone.get(url)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "audio/wav"
    assert fetched.headers["content-disposition"] == disposition
