"""Bulk ingestion over the bus (the `import` and `seed` commands).

Each song becomes an ingest job exactly as `POST /api/v1/songs` makes one: the files are
stored (under keys derived from their sha256, so a repeat overwrites the same bytes), then
`job.submitted` and `catalog.ingest.requested` are published; the catalog workers do the
rest. Running the same import twice makes new jobs that the catalog answers with the
existing songs ("already there"), so nothing is added twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from cadenza.audio import AudioDecodeError, probe_audio
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.catalog import (
    JOB_KIND,
    STAGE,
    CatalogIngestFailed,
    CatalogIngestRequested,
    CatalogSongIngested,
    SongMetadata,
)
from cadenza.contracts.envelope import derive_id
from cadenza.contracts.jobs import JobSubmitted
from cadenza.runtime.artifacts import artifact_ref
from cadenza.runtime.bus import MSG_ID_HEADER, connect_options, ensure_streams
from cadenza.runtime.settings import WorkerSettings
from cadenza.runtime.storage import ObjectStore, object_key, store_from_settings

log = logging.getLogger(__name__)

MIDI_SUFFIXES = frozenset({".mid", ".midi", ".kar"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff"})
MIDI_MEDIA_TYPE = "audio/midi"


@dataclass
class Outcome:
    created: int = 0
    existing: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.created + self.existing + self.failed


@dataclass(frozen=True)
class SongFiles:
    metadata: SongMetadata
    midi: bytes | None = None
    audio: Path | None = None
    midi_filename: str | None = None
    audio_filename: str | None = None


class BulkIngest:
    """Submit many ingest jobs and wait for their outcomes."""

    def __init__(self, settings: WorkerSettings, owner: str, *, in_flight: int = 64) -> None:
        self.settings = settings
        self.owner = owner
        self.store: ObjectStore = store_from_settings(settings)
        self.nc: Client | None = None
        self._pending: dict[uuid.UUID, asyncio.Future[str]] = {}
        self._slots = asyncio.Semaphore(in_flight)
        self.outcome = Outcome()

    async def __aenter__(self) -> Self:
        self.nc = await nats.connect(
            **connect_options(self.settings), name="cadenza-catalog-import"
        )
        await ensure_streams(self.nc.jetstream(), replicas=self.settings.nats_stream_replicas)
        await self.store.start()
        await self.nc.subscribe(CatalogSongIngested.subject, cb=self._on_fact)
        await self.nc.subscribe(CatalogIngestFailed.subject, cb=self._on_fact)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.nc is not None:
            await self.nc.close()
        await self.store.close()

    async def _on_fact(self, msg: Msg) -> None:
        if msg.subject == CatalogSongIngested.subject:
            fact = CatalogSongIngested.model_validate_json(msg.data)
            verdict = "created" if fact.details.get("created", True) else "existing"
        else:
            failed = CatalogIngestFailed.model_validate_json(msg.data)
            fact, verdict = failed, f"failed: {failed.reason}"  # type: ignore[assignment]
        future = self._pending.get(fact.job_id)
        if future is not None and not future.done():
            future.set_result(verdict)

    async def submit(self, song: SongFiles) -> asyncio.Future[str]:
        """Store the files and publish the job; the future resolves with its outcome."""
        assert self.nc is not None
        await self._slots.acquire()
        try:
            midi_ref = await self._store_midi(song.midi) if song.midi is not None else None
            audio_ref = await self._store_audio(song.audio) if song.audio is not None else None
        except BaseException:
            self._slots.release()
            raise
        job_id = uuid.uuid4()
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[job_id] = future
        future.add_done_callback(lambda f: self._finished(job_id, f))
        correlation = uuid.uuid4()
        submitted = JobSubmitted(
            event_id=derive_id(job_id, JobSubmitted.subject),
            job_id=job_id,
            owner=self.owner,
            correlation_id=correlation,
            kind=JOB_KIND,
            input={
                k: v
                for k, v in (
                    ("midi_filename", song.midi_filename),
                    ("audio_filename", song.audio_filename),
                )
                if v
            },
            params=song.metadata.model_dump(mode="json"),
            stages=[STAGE],
        )
        command = CatalogIngestRequested.caused_by(
            submitted,
            metadata=song.metadata,
            midi=midi_ref,
            audio=audio_ref,
            midi_filename=song.midi_filename,
            audio_filename=song.audio_filename,
        )
        js = self.nc.jetstream()
        for event in (submitted, command):
            await js.publish(
                event.subject,
                event.model_dump_json().encode(),
                headers={MSG_ID_HEADER: str(event.event_id)},
            )
        return future

    def _finished(self, job_id: uuid.UUID, future: asyncio.Future[str]) -> None:
        self._pending.pop(job_id, None)
        self._slots.release()
        if future.cancelled():
            return
        verdict = future.result()
        if verdict == "created":
            self.outcome.created += 1
        elif verdict == "existing":
            self.outcome.existing += 1
        else:
            self.outcome.failed += 1
            self.outcome.failures.append(verdict)

    async def _store_midi(self, data: bytes) -> ArtifactRef:
        key = object_key(self.owner, "imports", hashlib.sha256(data).hexdigest(), "song.mid")
        with tempfile.NamedTemporaryFile(suffix=".mid") as f:
            f.write(data)
            f.flush()
            stored = await self.store.put_file(key, Path(f.name), MIDI_MEDIA_TYPE)
        return artifact_ref(stored)

    async def _store_audio(self, path: Path) -> ArtifactRef:
        try:
            info = await asyncio.to_thread(probe_audio, path)
        except AudioDecodeError as e:
            raise ValueError(f"{path.name}: {e}") from e
        digest = await asyncio.to_thread(_sha256_file, path)
        key = object_key(self.owner, "imports", digest, "audio")
        stored = await self.store.put_file(key, path, info.media_type)
        return artifact_ref(
            stored,
            duration_s=info.duration_s,
            sample_rate=info.sample_rate,
            channels=info.channels,
        )

    async def wait(self, timeout_s: float) -> Outcome:
        """Wait for every submitted job; jobs still pending at the timeout count as failed."""
        pending = list(self._pending.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout_s)
            for future in late:
                future.set_result("failed: no answer from the catalog before the timeout")
        return self.outcome


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def files_to_import(paths: Iterable[Path]) -> list[Path]:
    """MIDI and audio files under `paths` (directories are walked), sorted."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES | AUDIO_SUFFIXES
            )
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return sorted(found)


async def run_bulk(
    settings: WorkerSettings,
    owner: str,
    songs: Iterable[SongFiles],
    *,
    timeout_s: float,
    report_every: int = 50,
) -> Outcome:
    started = time.perf_counter()
    async with BulkIngest(settings, owner) as bulk:
        submitted = 0
        for song in songs:
            try:
                await bulk.submit(song)
            except ValueError as e:
                bulk.outcome.failed += 1
                bulk.outcome.failures.append(str(e))
                continue
            submitted += 1
            if submitted % report_every == 0:
                log.info("submitted %d songs, %d done", submitted, bulk.outcome.done)
        outcome = await bulk.wait(timeout_s)
    outcome.seconds = time.perf_counter() - started
    return outcome
