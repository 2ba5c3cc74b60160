"""The catalog as the gateway's clients use it: add a song (an ingest job), search, read,
similar songs, match a file, find a song's file to download.

Writes are jobs on the bus (`catalog.ingest.requested`); reads ask the catalog service over
request/reply. The gateway never touches the catalog's tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cadenza.audio import AudioInfo
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.catalog import (
    JOB_KIND,
    PITCH_CLASSES,
    STAGE,
    CatalogIngestRequested,
    SongAsset,
    SongGet,
    SongMatch,
    SongMetadata,
    SongSearch,
    SongSimilar,
    SongView,
)
from cadenza.contracts.envelope import derive_id
from cadenza.contracts.jobs import JobSubmitted
from cadenza.gateway import repository
from cadenza.gateway.application import jobs
from cadenza.gateway.application.errors import NotFoundError, TooLargeError, UnprocessableError
from cadenza.gateway.catalog_client import ask
from cadenza.gateway.errors import validation_errors
from cadenza.gateway.file_checks import check_audio, check_midi
from cadenza.gateway.job_state import JobState
from cadenza.gateway.multipart_upload import ReceivedFile
from cadenza.gateway.projects import access as project_access
from cadenza.gateway.projects.repository import project_ids_of
from cadenza.gateway.quotas import QuotaExceededError, Quotas
from cadenza.gateway.services import Services
from cadenza.gateway.text_checks import text_problem
from cadenza.runtime.artifacts import artifact_ref
from cadenza.runtime.storage import ObjectStore, object_key

MIDI_MEDIA_TYPE = "audio/midi"
METADATA_FIELDS = frozenset({"title", "artist", "tags", "source", "public"})
# Larger than any real MIDI file (the biggest orchestral ones are a few MB).
MAX_MIDI_BYTES = 16 << 20
MAX_WAIT_S = 120.0
FLATS = {"DB": "C#", "EB": "D#", "GB": "F#", "AB": "G#", "BB": "A#", "CB": "B", "FB": "E"}
SHARP_ALIASES = {"E#": "F", "B#": "C"}


_SPACE = " \t\n\r\f\v"  # ASCII only, as a JSON Schema pattern's class below reads it
_S = r"[ \t\n\r\f\v]"
_MAJOR, _MINOR = "[Mm][Aa][Jj][Oo][Rr]", "[Mm][Ii][Nn][Oo][Rr]"
# parse_key's grammar as the OpenAPI states it (JSON Schema patterns take no flags); an
# empty key is no key.
_KEY = rf"{_S}*[A-Ga-g][#♯b♭B]?({_S}*([Mm][Aa][Jj]|[Mm])|{_S}* ({_MAJOR}|{_MINOR}))?{_S}*"
KEY_PATTERN = rf"^({_KEY})?$"


def parse_key(raw: str) -> tuple[str, str | None]:
    """ "C", "c#", "Db", "A minor", "Am", "F# major" → (tonic with sharps, mode or None)."""
    text = raw.strip(_SPACE)
    mode = None
    lowered = text.lower()
    suffixes = ((" major", "major"), (" minor", "minor"), ("maj", "major"), ("m", "minor"))
    for suffix, name in suffixes:
        if lowered.endswith(suffix) and len(text) > len(suffix):
            text, mode = text[: -len(suffix)].strip(_SPACE), name
            break
    tonic = text[:1].upper() + text[1:].replace("♯", "#").replace("♭", "b").upper()
    tonic = FLATS.get(tonic, SHARP_ALIASES.get(tonic, tonic))
    if tonic not in PITCH_CLASSES:
        raise UnprocessableError.one(
            "key", f"{raw!r} is not a key: use a note name like C, F#, Bb, optionally 'minor'"
        )
    return tonic, mode


def sniff_midi(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(12)
    return head[:4] == b"MThd" or (head[:4] == b"RIFF" and head[8:12] == b"RMID")


@dataclass(frozen=True)
class Checked:
    """A received file that passed its checks, ready to store under `key`."""

    key: str
    path: Path
    info: AudioInfo | None  # None: MIDI


async def _check(
    services: Services, owner: str, key: str, path: Path, filename: str, *, midi: bool
) -> Checked:
    if midi:
        await check_midi(services.probes, services.settings, owner, path, filename)
        return Checked(key, path, None)
    info = await check_audio(services.probes, services.settings, owner, path, filename)
    return Checked(key, path, info)


async def _store(store: ObjectStore, checked: Checked) -> ArtifactRef:
    info = checked.info
    if info is None:
        return artifact_ref(
            await store.put_file(checked.key, checked.path, MIDI_MEDIA_TYPE, move=True)
        )
    stored = await store.put_file(checked.key, checked.path, info.media_type, move=True)
    return artifact_ref(
        stored, duration_s=info.duration_s, sample_rate=info.sample_rate, channels=info.channels
    )


def metadata(fields: dict[str, str], fallback_title: str) -> SongMetadata:
    values: dict[str, Any] = {k: v for k, v in fields.items() if k in METADATA_FIELDS}
    for name, value in values.items():
        if problem := text_problem(value):
            raise UnprocessableError.one(name, problem)
    if not values.get("title", "").strip():
        values["title"] = fallback_title[:300]
    if "public" in values:
        flag = values["public"].strip().lower()
        if flag not in {"true", "false", "1", "0", "yes", "no", "on", "off", ""}:
            raise UnprocessableError.one("public", "must be true or false")
        values["public"] = flag in {"true", "1", "yes", "on"}
    try:
        return SongMetadata.model_validate(values)
    except ValidationError as e:
        raise UnprocessableError(validation_errors(e.errors())) from e


@dataclass(frozen=True)
class Ingest:
    """The ingest job, and (when it finished while the caller waited) the song."""

    job: JobState
    song: dict[str, Any] | None = None
    created: bool | None = None


async def add(
    services: Services,
    owner: str,
    files: dict[str, ReceivedFile],
    paths: dict[str, Path],
    fields: dict[str, str],
    wait_s: float,
    project_id: uuid.UUID | None = None,
) -> Ingest:
    """Check the received `midi` and/or `audio` files (both before either is stored: a
    refused request stores nothing), store them, and queue the catalog's ingest job; wait
    up to `wait_s` for it to end."""
    if not files:
        raise UnprocessableError.one(
            "midi", "send a MIDI file (field 'midi'), an audio file (field 'audio'), or both"
        )
    for name, received in files.items():
        if received.bytes == 0:
            raise UnprocessableError.one(name, f"{received.filename} is empty")
    midi_file, audio_file = files.get("midi"), files.get("audio")
    if midi_file is not None and midi_file.bytes > MAX_MIDI_BYTES:
        raise TooLargeError(f"{midi_file.filename} is larger than 16 MiB: not a MIDI file")
    first = midi_file or audio_file
    assert first is not None
    song_metadata = metadata(fields, Path(first.filename).stem or "Untitled")
    if project_id is not None:
        song_metadata = song_metadata.model_copy(update={"project_id": project_id})
    job_id = uuid.uuid4()
    checked_midi = checked_audio = None
    if midi_file is not None:
        key = object_key(owner, "uploads", str(job_id), "song.mid")
        checked_midi = await _check(
            services, owner, key, paths["midi"], midi_file.filename, midi=True
        )
    if audio_file is not None:
        key = object_key(owner, "uploads", str(job_id), "audio")
        checked_audio = await _check(
            services, owner, key, paths["audio"], audio_file.filename, midi=False
        )
    # The catalog keeps a copy of each file: that much must fit in the owner's quota.
    staged = sum(f.bytes for f in files.values())
    Quotas.check_fits(await services.quotas.usage(services.pool, owner), staged)
    store = services.store
    midi = await _store(store, checked_midi) if checked_midi else None
    audio = await _store(store, checked_audio) if checked_audio else None
    submitted = JobSubmitted(
        event_id=derive_id(job_id, JobSubmitted.subject),
        job_id=job_id,
        owner=owner,
        correlation_id=uuid.uuid4(),
        kind=JOB_KIND,
        input={
            k: v
            for k, v in (
                ("midi_filename", midi_file.filename if midi_file else None),
                ("audio_filename", audio_file.filename if audio_file else None),
            )
            if v
        },
        params=song_metadata.model_dump(mode="json"),
        stages=[STAGE],
        project_id=project_id,
    )
    command = CatalogIngestRequested.caused_by(
        submitted,
        metadata=song_metadata,
        midi=midi,
        audio=audio,
        midi_filename=midi_file.filename if midi_file else None,
        audio_filename=audio_file.filename if audio_file else None,
    )
    try:
        job = await jobs.queue(
            services,
            submitted,
            [command],
            reserve_bytes=staged,
            admit=partial(services.quotas.admit_job, owner=owner, reserve_bytes=staged),
        )
    except QuotaExceededError:
        for ref in (midi, audio):  # refused: nothing it sent stays in storage
            if ref is not None:
                with contextlib.suppress(Exception):
                    await store.delete(store.key_for(ref.uri))
        raise
    if wait_s > 0:
        job = await _wait_for(services, owner, job_id, wait_s) or job
    if job.status != "completed":
        return Ingest(job)
    details = job.stages[0].details
    song = await read(services, owner, uuid.UUID(details["song_id"]))
    return Ingest(job, song=song, created=bool(details["created"]))


async def check_project(services: Services, owner: str, project_id: uuid.UUID | None) -> None:
    """Before a song's files are read: the caller adds songs to the project (a maker)."""
    if project_id is not None:
        await project_access.may_start_jobs(services.pool, owner, project_id)


async def _wait_for(
    services: Services, owner: str, job_id: uuid.UUID, wait_s: float
) -> JobState | None:
    deadline = time.monotonic() + wait_s
    job = await repository.get_job(services.pool, owner, job_id)
    while (job is None or not job.terminal) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        job = await repository.get_job(services.pool, owner, job_id)
    return job


async def search(
    services: Services,
    owner: str,
    *,
    q: str | None,
    tempo_min: float | None,
    tempo_max: float | None,
    key: str | None,
    mode: str | None,
    tags: list[str],
    limit: int,
    offset: int,
) -> Any:
    tonic = None
    if key:
        tonic, key_mode = parse_key(key)
        mode = mode or key_mode
    tag_list = [t for raw in tags for t in raw.split(",") if t.strip()]
    try:
        query = SongSearch(
            principal=owner,
            projects=await project_ids_of(services.pool, owner),
            q=q.strip() if q and q.strip() else None,
            tempo_min=tempo_min,
            tempo_max=tempo_max,
            key=tonic,
            mode=mode,
            tags=tuple(" ".join(t.lower().split()) for t in tag_list),
            limit=limit,
            offset=offset,
        )
    except ValidationError as e:
        raise UnprocessableError(validation_errors(e.errors())) from e
    return await ask(services.broker, query)


async def read(services: Services, owner: str, song_id: uuid.UUID) -> Any:
    projects = await project_ids_of(services.pool, owner)
    return await ask(services.broker, SongGet(principal=owner, projects=projects, song_id=song_id))


async def similar(services: Services, owner: str, song_id: uuid.UUID, k: int) -> Any:
    projects = await project_ids_of(services.pool, owner)
    query = SongSimilar(principal=owner, projects=projects, song_id=song_id, k=k)
    return await ask(services.broker, query)


async def asset(services: Services, owner: str, song_id: uuid.UUID, name: str) -> SongAsset:
    """One of the song's files, by asset name (`midi`, `audio`) or its file name."""
    song = SongView.model_validate(await read(services, owner, song_id))
    found = next((a for a in song.assets if name in (a.name, a.filename)), None)
    if found is None:
        names = ", ".join(a.name for a in song.assets)
        raise NotFoundError(f"song {song_id} has no asset {name!r} (it has: {names})")
    return found


async def match(
    services: Services, owner: str, received: ReceivedFile | None, path: Path, k: int
) -> Any:
    """How close the received file is to what the catalog holds; the file is stored only
    while the catalog looks at it."""
    if received is None:
        raise UnprocessableError.one("file", "send the file in a field named 'file'")
    if received.bytes == 0:
        raise UnprocessableError.one("file", f"{received.filename} is empty")
    key = object_key(owner, "matches", uuid.uuid4().hex, "source")
    is_midi = await asyncio.to_thread(sniff_midi, path)
    checked = await _check(services, owner, key, path, received.filename, midi=is_midi)
    ref = await _store(services.store, checked)
    try:
        return await ask(
            services.broker,
            SongMatch(
                principal=owner,
                projects=await project_ids_of(services.pool, owner),
                file=ref,
                filename=received.filename,
                kind="midi" if is_midi else "audio",
                k=k,
            ),
            timeout_s=120.0,
        )
    finally:
        with contextlib.suppress(Exception):
            await services.store.delete(key)
