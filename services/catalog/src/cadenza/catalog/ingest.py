"""`catalog.ingest.requested` in: analyse the files, add (or find) the song, say which.

Order of work, so that a crash anywhere leaves nothing half-done and a redelivery ends the
same way: the song's id derives from the command; the files are copied to the song's keys
(overwriting the same bytes on a retry); one transaction inserts the song, its assets and
fingerprints (a second insert for the same job does nothing); then the fact is published
with a deterministic id.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import Counter, Histogram

from cadenza.catalog import repository, text_search
from cadenza.catalog.settings import Settings
from cadenza.catalog.song_analysis import AnalysisError, SongAnalysis, analyse_song
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.catalog import (
    PITCH_CLASSES,
    STAGE,
    CatalogIngestRequested,
    CatalogSongIngested,
    SongAsset,
    SongView,
)
from cadenza.contracts.envelope import derive_id
from cadenza.runtime.artifacts import artifact_ref
from cadenza.runtime.sandbox import Limits, Sandbox, SandboxLimitError
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import ObjectNotFoundError, ObjectStore, object_key
from cadenza.runtime.worker import JobRun, PermanentError

log = logging.getLogger(__name__)

INGESTED = Counter(
    "cadenza_catalog_ingested_total",
    "Songs ingested, by outcome (created, existing)",
    ["outcome"],
)
ANALYSIS_SECONDS = Histogram(
    "cadenza_catalog_analysis_seconds",
    "Time to analyse one song's files",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

MIDI_SUFFIXES = {"audio/midi": "mid", "audio/x-midi": "mid"}


@dataclass
class Catalog:
    """What the catalog's handlers share."""

    runtime: WorkerRuntime
    settings: Settings
    pool: asyncpg.Pool | None = None
    sandbox: Sandbox | None = None

    def start_sandbox(self) -> None:
        settings = self.settings
        self.sandbox = Sandbox(
            "analysis",
            workers=settings.analysis_workers,
            limits=Limits(
                memory_bytes=settings.analysis_memory_mb << 20,
                cpu_seconds=settings.analysis_cpu_s,
                wall_seconds=settings.analysis_wall_s,
            ),
            max_in_flight_per_owner=settings.matches_per_account,
            preload=["cadenza.catalog.song_analysis"],
        )

    async def analyse(
        self, owner: str, midi: Path | None, audio: Path | None, *, queue: bool
    ) -> SongAnalysis:
        """`analyse_song` in a sandboxed child process; AnalysisError for a file that cannot
        be analysed or that passes a limit. With `queue`, the request waits its turn even if
        the owner has others in flight (jobs); without, `OwnerBusyError` refuses it."""
        if self.sandbox is None:
            raise RuntimeError("the catalog's analysis processes are not started")
        run = self.sandbox.run_in_turn if queue else self.sandbox.run
        try:
            return await run(
                owner,
                analyse_song,
                midi,
                audio,
                max_midi_seconds=self.settings.max_midi_seconds,
                max_audio_seconds=self.settings.max_audio_seconds,
            )
        except SandboxLimitError as e:
            raise AnalysisError(f"the file was not analysed: {e}") from e

    @property
    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("the catalog's database pool is not open")
        return self.pool

    @property
    def store(self) -> ObjectStore:
        return self.runtime.store


@contextlib.asynccontextmanager
async def local_file(store: ObjectStore, ref: ArtifactRef | None) -> AsyncIterator[Path | None]:
    """The referenced object as a local file (None in, None out)."""
    if ref is None:
        yield None
        return
    try:
        key = store.key_for(ref.uri)
    except ValueError as e:
        raise PermanentError(
            "the uploaded file is not in this service's storage "
            "(storage settings differ between services)"
        ) from e
    try:
        async with store.local_copy(key) as path:
            yield path
    except ObjectNotFoundError as e:
        raise PermanentError("the uploaded file is no longer in storage") from e


def _asset_name(kind: str, ref: ArtifactRef, filename: str | None) -> str:
    if kind == "midi":
        return "song.mid"
    suffix = (filename or "").rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if not suffix.isalnum() or len(suffix) > 5:
        suffix = ref.media_type.rsplit("/", 1)[-1].replace("x-", "")[:5] or "bin"
    return f"audio.{suffix}"


def ingested_fact(
    cmd: CatalogIngestRequested,
    song: SongView,
    *,
    created: bool,
    extra: dict[str, Any] | None = None,
) -> CatalogSongIngested:
    # Named as stored (song.mid, audio.flac): the job's artifacts, downloadable like any.
    outputs = {a.ref.uri.rsplit("/", 1)[-1]: a.ref for a in song.assets}
    details: dict[str, Any] = {
        "song_id": str(song.id),
        "created": created,
        "title": song.title,
        "key": f"{song.key} {song.mode}" if song.key else None,
        "tempo_bpm": round(song.tempo_bpm, 2) if song.tempo_bpm else None,
        "near_duplicate_of": str(song.near_duplicate_of) if song.near_duplicate_of else None,
    }
    if not created:
        details["message"] = "this file is already in the catalog: the existing song is returned"
    details.update(extra or {})
    return CatalogSongIngested.caused_by(
        cmd, stage=STAGE, song_id=song.id, outputs=outputs, details=details
    )


async def run_ingest(
    catalog: Catalog, cmd: CatalogIngestRequested, run: JobRun
) -> CatalogSongIngested:
    """Ingest, then remove the files the gateway staged for it (the song keeps its own
    copies; a refused file keeps nothing)."""
    try:
        fact = await _ingest(catalog, cmd, run)
    except PermanentError:
        await _remove_staged(catalog.store, cmd)
        raise
    await _remove_staged(catalog.store, cmd)
    return fact


async def _remove_staged(store: ObjectStore, cmd: CatalogIngestRequested) -> None:
    for ref in (cmd.midi, cmd.audio):
        if ref is None:
            continue
        with contextlib.suppress(ValueError, ObjectNotFoundError):
            key = store.key_for(ref.uri)
            if key.split("/")[1:2] == ["uploads"]:  # staged by the gateway, not a bulk import
                await store.delete(key)


async def _ingest(
    catalog: Catalog, cmd: CatalogIngestRequested, run: JobRun
) -> CatalogSongIngested:
    settings = catalog.settings
    async with catalog.db.acquire() as conn:
        # A redelivered command whose song was already stored: say the same again.
        done = await repository.song_by_ingest_job(conn, cmd.job_id)
        if done is not None:
            return ingested_fact(cmd, done, created=True)
        for ref in (cmd.midi, cmd.audio):
            if ref is None:
                continue
            existing = await repository.visible_song_with_file(conn, cmd.owner, ref.sha256)
            if existing is not None:
                INGESTED.labels("existing").inc()
                return ingested_fact(cmd, existing, created=False)

    run.report(0.1, "analysing")
    started = time.perf_counter()
    async with (
        local_file(catalog.store, cmd.midi) as midi_path,
        local_file(catalog.store, cmd.audio) as audio_path,
    ):
        try:
            analysis = await catalog.analyse(cmd.owner, midi_path, audio_path, queue=True)
        except AnalysisError as e:
            raise PermanentError(str(e)) from e
    ANALYSIS_SECONDS.observe(time.perf_counter() - started)
    run.report(0.7, "storing")

    song_id = derive_id(cmd.event_id, "song")
    assets = await _store_assets(catalog.store, cmd, song_id)
    async with catalog.db.acquire() as conn:
        near = await repository.nearest(
            conn, cmd.owner, analysis.embedding, 1, ef_search=settings.hnsw_ef_search
        )
        near_duplicate = (
            near[0] if near and near[0][1] >= settings.near_duplicate_similarity else None
        )
        async with conn.transaction():
            # Two jobs with the same file at once: the second waits, then finds the first.
            for asset in assets:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", asset.ref.sha256)
            for asset in assets:
                existing = await repository.visible_song_with_file(
                    conn, cmd.owner, asset.ref.sha256
                )
                if existing is not None:
                    INGESTED.labels("existing").inc()
                    return ingested_fact(cmd, existing, created=False)
            await repository.insert_song(
                conn,
                _new_song(cmd, song_id, analysis, near_duplicate),
                assets,
                analysis.landmarks,
            )
        song = await repository.song_by_ingest_job(conn, cmd.job_id)
    assert song is not None
    INGESTED.labels("created").inc()
    extra: dict[str, Any] = {}
    if near_duplicate is not None:
        extra["near_duplicate_similarity"] = round(near_duplicate[1], 4)
        extra["message"] = (
            f"very close to {near_duplicate[0].title!r} (cosine similarity"
            f" {near_duplicate[1]:.3f}): flagged as a near-duplicate"
        )
    return ingested_fact(cmd, song, created=True, extra=extra)


async def _store_assets(
    store: ObjectStore, cmd: CatalogIngestRequested, song_id: Any
) -> list[SongAsset]:
    assets = []
    for kind, ref, filename in (
        ("midi", cmd.midi, cmd.midi_filename),
        ("audio", cmd.audio, cmd.audio_filename),
    ):
        if ref is None:
            continue
        name = _asset_name(kind, ref, filename)
        try:
            stored = await store.copy(
                store.key_for(ref.uri),
                object_key(cmd.owner, "songs", str(song_id), name),
                ref.media_type,
            )
        except ObjectNotFoundError as e:
            raise PermanentError("the uploaded file is no longer in storage") from e
        assets.append(
            SongAsset(
                name=kind,
                filename=filename or name,
                ref=artifact_ref(
                    stored,
                    duration_s=ref.duration_s,
                    sample_rate=ref.sample_rate,
                    channels=ref.channels,
                ),
            )
        )
    return assets


def _new_song(
    cmd: CatalogIngestRequested,
    song_id: Any,
    analysis: SongAnalysis,
    near_duplicate: tuple[SongView, float] | None,
) -> repository.NewSong:
    meta = cmd.metadata
    summary = analysis.summary()
    summary["key"] = f"{PITCH_CLASSES[analysis.key_tonic]} {analysis.mode}"
    return repository.NewSong(
        id=song_id,
        owner=cmd.owner,
        public=meta.public,
        project_id=meta.project_id,
        title=meta.title,
        artist=meta.artist,
        tags=meta.tags,
        source=meta.source,
        duration_s=analysis.duration_s,
        tempo_bpm=analysis.tempo_bpm,
        key_tonic=analysis.key_tonic,
        mode=analysis.mode,
        time_signature=analysis.time_signature,
        analysis=summary,
        embedding=analysis.embedding,
        search_trigrams=text_search.trigrams(f"{meta.title} {meta.artist}"),
        near_duplicate_of=near_duplicate[0].id if near_duplicate else None,
        near_duplicate_similarity=near_duplicate[1] if near_duplicate else None,
        ingest_job_id=cmd.job_id,
    )
