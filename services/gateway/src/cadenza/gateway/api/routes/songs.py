"""The catalog: add songs (an ingest job), search, similar songs, match a file, downloads.

Writes are jobs on the bus (`catalog.ingest.requested`); reads ask the catalog service
over request/reply. The gateway never touches the catalog's tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from cadenza.audio import AudioInfo
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.catalog import (
    JOB_KIND,
    PITCH_CLASSES,
    STAGE,
    CatalogIngestRequested,
    SongGet,
    SongMatch,
    SongMetadata,
    SongSearch,
    SongSimilar,
    SongView,
)
from cadenza.contracts.envelope import derive_id
from cadenza.contracts.jobs import JobSubmitted
from cadenza.gateway import public_views, repository
from cadenza.gateway.api.routes.jobs import queue_job
from cadenza.gateway.catalog_client import ask
from cadenza.gateway.deps import (
    BusDep,
    PoolDep,
    PrincipalDep,
    ProjectionDep,
    ServicesDep,
    SettingsDep,
    StoreDep,
    WriterDep,
)
from cadenza.gateway.downloads import send_object
from cadenza.gateway.errors import ProblemError, UnprocessableError, validation_errors
from cadenza.gateway.file_checks import check_audio, check_midi
from cadenza.gateway.multipart_upload import UploadRejectedError, receive_form
from cadenza.gateway.public_views import MatchView, Song, SongPageView
from cadenza.gateway.quotas import QuotaExceededError, Quotas
from cadenza.gateway.services import Services
from cadenza.gateway.text_checks import text_problem
from cadenza.gateway.views import JobView
from cadenza.runtime.artifacts import artifact_ref
from cadenza.runtime.storage import ObjectStore, object_key

router = APIRouter(prefix="/api/v1/songs", tags=["songs"])

MIDI_MEDIA_TYPE = "audio/midi"
METADATA_FIELDS = frozenset({"title", "artist", "tags", "source", "public"})
# Larger than any real MIDI file (the biggest orchestral ones are a few MB).
MAX_MIDI_BYTES = 16 << 20
MAX_WAIT_S = 120.0
FLATS = {"DB": "C#", "EB": "D#", "GB": "F#", "AB": "G#", "BB": "A#", "CB": "B", "FB": "E"}
SHARP_ALIASES = {"E#": "F", "B#": "C"}

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "No such song (or not yours, and not public)"}}
CATALOG_DOWN: Responses = {503: {"description": "The catalog service is not answering"}}

SONG_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "midi": {"type": "string", "format": "binary", "description": "MIDI"},
                        "audio": {
                            "type": "string",
                            "format": "binary",
                            "description": "WAV, FLAC, MP3, OGG or AIFF",
                        },
                        "title": {"type": "string", "maxLength": 300},
                        "artist": {"type": "string", "maxLength": 300},
                        "tags": {"type": "string", "description": "comma-separated"},
                        "source": {"type": "string", "maxLength": 500},
                        "public": {"type": "boolean"},
                    },
                }
            }
        },
    }
}
MATCH_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A MIDI or audio file",
                        }
                    },
                }
            }
        },
    }
}


class IngestView(BaseModel):
    """The ingest job, and the song once the job is done (with `?wait=`)."""

    job: JobView
    song: Song | None = None
    created: bool | None = None


def parse_key(raw: str) -> tuple[str, str | None]:
    """ "C", "c#", "Db", "A minor", "Am", "F# major" → (tonic with sharps, mode or None)."""
    text = raw.strip()
    mode = None
    lowered = text.lower()
    suffixes = ((" major", "major"), (" minor", "minor"), ("maj", "major"), ("m", "minor"))
    for suffix, name in suffixes:
        if lowered.endswith(suffix) and len(text) > len(suffix):
            text, mode = text[: -len(suffix)].strip(), name
            break
    tonic = text[:1].upper() + text[1:].replace("♯", "#").replace("♭", "b").upper()
    tonic = FLATS.get(tonic, SHARP_ALIASES.get(tonic, tonic))
    if tonic not in PITCH_CLASSES:
        raise UnprocessableError.one(
            "key", f"{raw!r} is not a key: use a note name like C, F#, Bb, optionally 'minor'"
        )
    return tonic, mode


def _sniff_midi(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(12)
    return head[:4] == b"MThd" or (head[:4] == b"RIFF" and head[8:12] == b"RMID")


async def _checked_audio(
    services: Services, owner: str, key: str, path: Path, filename: str
) -> tuple[str, Path, AudioInfo]:
    """The file, checked as audio (415/429 otherwise), ready for `_store`."""
    info = await check_audio(services.probes, services.settings, owner, path, filename)
    return key, path, info


async def _checked_midi(
    services: Services, owner: str, key: str, path: Path, filename: str
) -> tuple[str, Path, None]:
    await check_midi(services.probes, services.settings, owner, path, filename)
    return key, path, None


async def _store(store: ObjectStore, checked: tuple[str, Path, AudioInfo | None]) -> ArtifactRef:
    key, path, info = checked
    if info is None:
        return artifact_ref(await store.put_file(key, path, MIDI_MEDIA_TYPE, move=True))
    stored = await store.put_file(key, path, info.media_type, move=True)
    return artifact_ref(
        stored, duration_s=info.duration_s, sample_rate=info.sample_rate, channels=info.channels
    )


def _metadata(fields: dict[str, str], fallback_title: str) -> SongMetadata:
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


async def _wait_for(pool: PoolDep, owner: str, job_id: uuid.UUID, wait_s: float) -> Any:
    deadline = time.monotonic() + wait_s
    job = await repository.get_job(pool, owner, job_id)
    while (job is None or not job.terminal) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        job = await repository.get_job(pool, owner, job_id)
    return job


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Add a song: a MIDI file and/or audio, plus metadata (an ingest job)",
    openapi_extra=SONG_FORM,
    responses={
        200: {"description": "With `wait`: the file was already in the catalog"},
        201: {"description": "With `wait`: the song was added"},
        413: {"description": "Larger than MAX_UPLOAD_BYTES (MIDI: 16 MiB)"},
        415: {"description": "Not multipart, not a MIDI file, or not decodable audio"},
        422: {
            "description": "No file, bad metadata, or (with `wait`) a file that cannot be analysed"
        },
    },
)
async def add_song(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    pool: PoolDep,
    bus: BusDep,
    projection: ProjectionDep,
    services: ServicesDep,
    owner: WriterDep,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for the analysis (0: don't)"),
    ] = 0.0,
) -> Response:
    job_id = uuid.uuid4()
    with tempfile.TemporaryDirectory(prefix="cadenza-song-") as tmp:
        paths = {"midi": Path(tmp) / "midi", "audio": Path(tmp) / "audio"}
        try:
            form = await receive_form(
                request,
                paths,
                limit=settings.max_upload_bytes,
                text_fields=METADATA_FIELDS,
            )
        except UploadRejectedError as e:
            raise HTTPException(e.status, e.detail) from e
        if not form.files:
            raise UnprocessableError.one(
                "midi", "send a MIDI file (field 'midi'), an audio file (field 'audio'), or both"
            )
        for name, received in form.files.items():
            if received.bytes == 0:
                raise UnprocessableError.one(name, f"{received.filename} is empty")
        midi_file, audio_file = form.files.get("midi"), form.files.get("audio")
        if midi_file is not None and midi_file.bytes > MAX_MIDI_BYTES:
            raise HTTPException(413, f"{midi_file.filename} is larger than 16 MiB: not a MIDI file")
        first = midi_file or audio_file
        assert first is not None
        fallback = Path(first.filename).stem
        metadata = _metadata(form.fields, fallback or "Untitled")
        # Both files are checked before either is stored: a refused request stores nothing.
        checked_midi = checked_audio = None
        if midi_file is not None:
            checked_midi = await _checked_midi(
                services,
                owner,
                object_key(owner, "uploads", str(job_id), "song.mid"),
                paths["midi"],
                midi_file.filename,
            )
        if audio_file is not None:
            checked_audio = await _checked_audio(
                services,
                owner,
                object_key(owner, "uploads", str(job_id), "audio"),
                paths["audio"],
                audio_file.filename,
            )
        # The catalog keeps a copy of each file: that much must fit in the owner's quota.
        staged = sum(f.bytes for f in form.files.values())
        Quotas.check_fits(await services.quotas.usage(services.pool, owner), staged)
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
        params=metadata.model_dump(mode="json"),
        stages=[STAGE],
    )
    command = CatalogIngestRequested.caused_by(
        submitted,
        metadata=metadata,
        midi=midi,
        audio=audio,
        midi_filename=midi_file.filename if midi_file else None,
        audio_filename=audio_file.filename if audio_file else None,
    )
    try:
        job = await queue_job(
            projection,
            services.outbox,
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
    if wait > 0:
        job = await _wait_for(pool, owner, job_id, wait) or job
    view = IngestView(job=JobView.of(job))
    code = status.HTTP_202_ACCEPTED
    if job.status == "completed":
        details = job.stages[0].details
        song = await ask(
            services.broker, SongGet(principal=owner, song_id=uuid.UUID(details["song_id"]))
        )
        view = IngestView(
            job=view.job, song=public_views.song(song), created=bool(details["created"])
        )
        code = status.HTTP_201_CREATED if view.created else status.HTTP_200_OK
    elif job.status == "failed" and job.error:
        code = 422 if job.error.get("code") == "invalid_input" else 503
        raise ProblemError(code, job.error["reason"], job=view.job.model_dump(mode="json"))
    return JSONResponse(status_code=code, content=view.model_dump(mode="json"))


@router.get(
    "",
    summary="Search songs: typo-tolerant title/artist text, tempo, key, tags; paged",
    responses=CATALOG_DOWN,
)
async def search_songs(
    services: ServicesDep,
    owner: PrincipalDep,
    q: Annotated[str | None, Query(max_length=200, description="Title and/or artist")] = None,
    tempo_min: Annotated[float | None, Query(ge=0, le=1000)] = None,
    tempo_max: Annotated[float | None, Query(ge=0, le=1000)] = None,
    key: Annotated[
        str | None, Query(max_length=12, description="C, F#, Bb; 'A minor' also sets mode")
    ] = None,
    mode: Annotated[str | None, Query(pattern="^(major|minor)$")] = None,
    tags: Annotated[list[str] | None, Query(description="Songs with all these tags")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> SongPageView:
    tonic = None
    if key:
        tonic, key_mode = parse_key(key)
        mode = mode or key_mode
    tag_list = [t for raw in tags or [] for t in raw.split(",") if t.strip()]
    try:
        query = SongSearch(
            principal=owner,
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
    return public_views.song_page(await ask(services.broker, query))


@router.get("/{song_id}", summary="A song", responses={**NOT_FOUND, **CATALOG_DOWN})
async def get_song(song_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep) -> Song:
    return public_views.song(await ask(services.broker, SongGet(principal=owner, song_id=song_id)))


@router.get(
    "/{song_id}/similar",
    summary="The k most similar songs (cosine over the song embedding, HNSW index)",
    responses={**NOT_FOUND, **CATALOG_DOWN},
)
async def similar_songs(
    song_id: uuid.UUID,
    services: ServicesDep,
    owner: PrincipalDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SongPageView:
    return public_views.song_page(
        await ask(services.broker, SongSimilar(principal=owner, song_id=song_id, k=k))
    )


# GET for the bytes, HEAD for their size and type (separate operations in the OpenAPI).
ASSET_DOWNLOAD: dict[str, Any] = {
    "summary": "Download a song's MIDI (`midi`) or audio (`audio`); Range supported",
    "response_class": Response,
    "responses": {**NOT_FOUND, **CATALOG_DOWN, 206: {"description": "Partial content"}},
}


@router.get("/{song_id}/assets/{name}", **ASSET_DOWNLOAD)
@router.head("/{song_id}/assets/{name}", **ASSET_DOWNLOAD)
async def download_asset(
    song_id: uuid.UUID,
    name: str,
    request: Request,
    services: ServicesDep,
    store: StoreDep,
    owner: PrincipalDep,
) -> Response:
    song = SongView.model_validate(
        await ask(services.broker, SongGet(principal=owner, song_id=song_id))
    )
    asset = next((a for a in song.assets if name in (a.name, a.filename)), None)
    if asset is None:
        names = ", ".join(a.name for a in song.assets)
        raise HTTPException(404, f"song {song_id} has no asset {name!r} (it has: {names})")
    return await send_object(
        request,
        store,
        uri=asset.ref.uri,
        sha256=asset.ref.sha256,
        media_type=asset.ref.media_type,
        filename=asset.filename,
        gone=f"the {asset.name} file of song {song_id} is no longer stored",
    )


@router.post(
    "/match",
    summary="Is this file already in the catalog, and how close? (exact, same recording, similar)",
    openapi_extra=MATCH_FORM,
    responses={
        **CATALOG_DOWN,
        413: {"description": "Larger than MAX_UPLOAD_BYTES"},
        415: {"description": "Neither MIDI nor decodable audio"},
        422: {"description": "No file, or a file that cannot be analysed"},
    },
)
async def match_song(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    services: ServicesDep,
    owner: PrincipalDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> MatchView:
    key = object_key(owner, "matches", uuid.uuid4().hex, "source")
    with tempfile.TemporaryDirectory(prefix="cadenza-match-") as tmp:
        path = Path(tmp) / "file"
        try:
            form = await receive_form(request, {"file": path}, limit=settings.max_upload_bytes)
        except UploadRejectedError as e:
            raise HTTPException(e.status, e.detail) from e
        received = form.files.get("file")
        if received is None:
            raise UnprocessableError.one("file", "send the file in a field named 'file'")
        if received.bytes == 0:
            raise UnprocessableError.one("file", f"{received.filename} is empty")
        checked: tuple[str, Path, AudioInfo | None]
        if await asyncio.to_thread(_sniff_midi, path):
            kind = "midi"
            checked = await _checked_midi(services, owner, key, path, received.filename)
        else:
            kind = "audio"
            checked = await _checked_audio(services, owner, key, path, received.filename)
        ref = await _store(store, checked)
    try:
        result = await ask(
            services.broker,
            SongMatch(principal=owner, file=ref, filename=received.filename, kind=kind, k=k),
            timeout_s=120.0,
        )
    finally:
        with contextlib.suppress(Exception):
            await store.delete(key)
    return public_views.match(result)
