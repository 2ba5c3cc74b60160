"""Cadenza: the same client for code that is not asyncio — each call runs AsyncCadenza's on a
private event loop. (Inside a running event loop, use AsyncCadenza.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from cadenza.client.async_client import AsyncCadenza, Message
from cadenza.client.models import Artifact, Job, JobPage, ModelList, RecordedEvent, Song, Upload

T = TypeVar("T")


class Cadenza:
    """See AsyncCadenza for the arguments and what each method does."""

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, *, timeout_s: float = 60.0
    ) -> None:
        self._runner = asyncio.Runner()
        self._client = AsyncCadenza(base_url, api_key, timeout_s=timeout_s)
        self.base_url = self._client.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()

    @property
    def async_client(self) -> AsyncCadenza:
        """The AsyncCadenza underneath, for `run`."""
        return self._client

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine of `async_client` on this client's event loop (e.g. a live
        session from sync code)."""
        return self._runner.run(work)

    def upload(self, path: str | Path) -> Upload:
        return self._runner.run(self._client.upload(path))

    def submit(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> Job:
        return self._runner.run(self._client.submit(body, idempotency_key=idempotency_key))

    def job(self, job_id: str) -> Job:
        return self._runner.run(self._client.job(job_id))

    def jobs(self, *, limit: int = 20, cursor: str | None = None) -> JobPage:
        return self._runner.run(self._client.jobs(limit=limit, cursor=cursor))

    def cancel(self, job_id: str) -> Job:
        return self._runner.run(self._client.cancel(job_id))

    def events(self, job_id: str) -> list[RecordedEvent]:
        return self._runner.run(self._client.events(job_id))

    def watch(self, job_id: str) -> Iterator[Message]:
        messages = self._client.watch(job_id)
        try:
            while True:
                try:
                    yield self._runner.run(messages.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._runner.run(messages.aclose())

    def wait(self, job_id: str, on_message: Callable[[Message], None] | None = None) -> Job:
        return self._runner.run(self._client.wait(job_id, on_message))

    def download(self, artifact: Artifact, dest: str | Path) -> Path:
        return self._runner.run(self._client.download(artifact, dest))

    def models(self) -> ModelList:
        return self._runner.run(self._client.models())

    def pull_model(self, name: str) -> Job:
        return self._runner.run(self._client.pull_model(name))

    def search_songs(
        self, q: str | None = None, *, key: str | None = None, limit: int = 20, **filters: Any
    ) -> list[Song]:
        return self._runner.run(self._client.search_songs(q, key=key, limit=limit, **filters))

    def similar_songs(self, song_id: str, k: int = 10) -> list[Song]:
        return self._runner.run(self._client.similar_songs(song_id, k))

    def song(self, song_id: str) -> Song:
        return self._runner.run(self._client.song(song_id))
