"""Local-directory backend: the embedded default. Atomic rename makes writes all-or-nothing."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cadenza.runtime.hashing import sha256_file
from cadenza.runtime.storage.base import (
    ListedObject,
    ObjectNotFoundError,
    ObjectStore,
    PendingObject,
    StoredObject,
)
from cadenza.runtime.storage.keys import validate_key

READ_BLOCK = 1 << 18
log = logging.getLogger(__name__)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path, *, fsync: bool = True, stale_after_s: float = 3600.0) -> None:
        self.root = root.resolve()
        self.fsync = fsync
        self.stale_after_s = stale_after_s
        self._tmp = self.root / ".tmp"

    async def start(self) -> None:
        self._tmp.mkdir(parents=True, exist_ok=True)
        removed = await asyncio.to_thread(self.sweep_staging, self.stale_after_s)
        if removed:
            log.info("removed %d staging files left by crashed writers", removed)

    def sweep_staging(self, older_than_s: float) -> int:
        """Delete staging files nobody has written to for `older_than_s` (a crashed
        writer's leftovers: never visible as objects, but they take space)."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self._tmp.iterdir():
            try:
                if path.stat().st_mtime <= cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # committed or removed meanwhile
        return removed

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def uri_for(self, key: str) -> str:
        return self._path(key).as_uri()

    def key_for(self, uri: str) -> str:
        prefix = self.root.as_uri() + "/"
        if not uri.startswith(prefix):
            raise ValueError(f"{uri!r} is not in this store ({prefix})")
        return validate_key(uri[len(prefix) :])

    def _commit(self, key: str, source: Path, media_type: str, *, move: bool) -> StoredObject:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if move:
            staged = source
        else:
            staged = self._tmp / uuid.uuid4().hex
            shutil.copyfile(source, staged)
        if self.fsync:
            with staged.open("rb+") as f:
                os.fsync(f.fileno())
        digest = sha256_file(staged)
        size = staged.stat().st_size
        os.replace(staged, final)
        if self.fsync:
            _fsync_dir(final.parent)
        return StoredObject(key, final.as_uri(), size, digest, media_type)

    def put_file_sync(
        self, key: str, path: Path, media_type: str, *, move: bool = False
    ) -> StoredObject:
        """`put_file` for code that is not async (benchmarks, thread workers)."""
        if move and path.resolve().parent != self._tmp:
            # A rename is only atomic within one filesystem; stage through our tmp dir.
            staged = self._tmp / uuid.uuid4().hex
            try:
                os.replace(path, staged)
                path = staged
            except OSError:
                move = False
        return self._commit(key, path, media_type, move=move)

    async def put_file(
        self, key: str, path: Path, media_type: str, *, move: bool = False
    ) -> StoredObject:
        return await asyncio.to_thread(self.put_file_sync, key, path, media_type, move=move)

    def _copy(self, source_key: str, dest_key: str, media_type: str) -> StoredObject:
        source = self._path(source_key)
        if not source.is_file():
            raise ObjectNotFoundError(source_key)
        staged = self._tmp / uuid.uuid4().hex
        try:
            os.link(source, staged)  # same bytes, no copy: objects are never modified in place
        except OSError:
            shutil.copyfile(source, staged)
        return self._commit(dest_key, staged, media_type, move=True)

    async def copy(self, source_key: str, dest_key: str, media_type: str) -> StoredObject:
        return await asyncio.to_thread(self._copy, source_key, dest_key, media_type)

    @asynccontextmanager
    async def writer(self, key: str, media_type: str) -> AsyncIterator[PendingObject]:
        validate_key(key)
        path = self._tmp / uuid.uuid4().hex
        commit = functools.partial(self._commit, key, path, media_type, move=True)
        pending = PendingObject(key, media_type, path, commit_sync=commit)
        try:
            yield pending
            if pending.stored is None:
                pending.stored = await asyncio.to_thread(commit)
        finally:
            pending.path.unlink(missing_ok=True)

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(key)
        yield path

    async def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as e:
            raise ObjectNotFoundError(key) from e

    async def read_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            f = path.open("rb")
        except FileNotFoundError as e:
            raise ObjectNotFoundError(key) from e
        with f:
            f.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                want = READ_BLOCK if remaining is None else min(READ_BLOCK, remaining)
                block = await asyncio.to_thread(f.read, want)
                if not block:
                    break
                if remaining is not None:
                    remaining -= len(block)
                yield block

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def list_objects(self, prefix: str = "") -> AsyncIterator[ListedObject]:
        def scan() -> list[ListedObject]:
            found = []
            for path in self.root.rglob("*"):
                relative = path.relative_to(self.root)
                if relative.parts[0] == self._tmp.name or not path.is_file():
                    continue
                key = relative.as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    found.append(ListedObject(key, stat.st_size, stat.st_mtime))
            return found

        for listed in await asyncio.to_thread(scan):
            yield listed

    async def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise OSError(f"storage directory {self.root} is missing or not writable")
