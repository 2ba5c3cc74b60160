"""Workers' two ends of an artifact: an input fetched as a local file, an output stored and
described as an `ArtifactRef`. Storage failures become `PermanentError`s with a reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.runtime.storage import ObjectNotFoundError, ObjectStore, StoredObject
from cadenza.runtime.worker import PermanentError


@asynccontextmanager
async def input_file(
    store: ObjectStore, ref: ArtifactRef, *, what: str = "the input"
) -> AsyncIterator[Path]:
    """A local path holding `ref` for the duration of the block. Only fetching is translated
    into a `PermanentError`; errors raised inside the block pass through untouched."""
    try:
        key = store.key_for(ref.uri)
    except ValueError as e:
        raise PermanentError(
            f"{what} is not in this service's storage (storage settings differ between services)"
        ) from e
    async with AsyncExitStack() as stack:
        try:
            path = await stack.enter_async_context(store.local_copy(key))
        except ObjectNotFoundError as e:
            raise PermanentError(f"{what} is no longer in storage") from e
        yield path


def artifact_ref(
    stored: StoredObject,
    *,
    duration_s: float | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> ArtifactRef:
    return ArtifactRef(
        uri=stored.uri,
        media_type=stored.media_type,
        bytes=stored.bytes,
        sha256=stored.sha256,
        duration_s=duration_s,
        sample_rate=sample_rate,
        channels=channels,
    )
