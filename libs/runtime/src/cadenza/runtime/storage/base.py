"""The one object-storage interface every service uses; backends in local.py and s3.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str
    bytes: int
    sha256: str
    media_type: str


@dataclass(frozen=True)
class ListedObject:
    key: str
    bytes: int
    modified: float  # seconds since the epoch


@dataclass
class PendingObject:
    """A file being written for `key`; it becomes visible only when the block exits cleanly,
    or earlier, when the thread that wrote it calls `commit_here()`."""

    key: str
    media_type: str
    path: Path
    stored: StoredObject | None = field(default=None)
    # Set by a store that can commit without the event loop (a local disk): the thread that
    # wrote the file commits it too, one thread hop per output instead of two.
    commit_sync: Callable[[], StoredObject] | None = field(default=None, repr=False)

    def commit_here(self) -> None:
        """From the thread that wrote the file, after it is complete: commit it now where
        the store can (else the block's exit does, as always)."""
        if self.commit_sync is not None and self.stored is None:
            self.stored = self.commit_sync()

    def result(self) -> StoredObject:
        if self.stored is None:
            raise RuntimeError(f"object {self.key} was not committed")
        return self.stored


class ObjectNotFoundError(LookupError):
    pass


class ObjectStore(ABC):
    """Artifacts by key. Writes are all-or-nothing: readers never see a half-written object."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once before use."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    def uri_for(self, key: str) -> str: ...

    @abstractmethod
    def key_for(self, uri: str) -> str:
        """The key behind a URI this store produced; ValueError for anything else."""

    @abstractmethod
    async def put_file(
        self, key: str, path: Path, media_type: str, *, move: bool = False
    ) -> StoredObject:
        """Store a local file under `key` (`move` lets a backend take the file over)."""

    @abstractmethod
    async def copy(self, source_key: str, dest_key: str, media_type: str) -> StoredObject:
        """Copy an object within the store (all-or-nothing, like every write)."""

    @abstractmethod
    def writer(self, key: str, media_type: str) -> AbstractAsyncContextManager[PendingObject]:
        """Write to `pending.path`; on clean exit the object is committed under `key`."""

    @abstractmethod
    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A readable local file with the object's bytes, for libraries that need a path."""

    @abstractmethod
    async def size(self, key: str) -> int:
        """Bytes in the object; ObjectNotFoundError if absent."""

    @abstractmethod
    def read_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the object, in blocks."""

    async def download_url(
        self, key: str, *, media_type: str, disposition: str, expires_s: int
    ) -> str | None:
        """A URL anyone holding it can GET the object from for `expires_s` seconds, answered
        with `media_type` and `disposition` (a Content-Disposition value); None where the
        backend cannot sign one (the caller sends the bytes itself)."""
        return None

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    @abstractmethod
    def list_objects(self, prefix: str = "") -> AsyncIterator[ListedObject]:
        """Every committed object whose key starts with `prefix` (staging files excluded)."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot be reached."""
