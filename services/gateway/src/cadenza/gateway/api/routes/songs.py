"""The catalog: add songs (an ingest job), search, similar songs, match a file, downloads
(adapters over `cadenza.gateway.application.songs`)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from cadenza.gateway import public_views
from cadenza.gateway.api.params import binary, job_location, multipart_form
from cadenza.gateway.application import songs
from cadenza.gateway.cursors import offset_cursor, offset_position
from cadenza.gateway.deps import PrincipalDep, ServicesDep, StoreDep, WriterDep
from cadenza.gateway.downloads import DOWNLOAD_RESPONSES, send_object
from cadenza.gateway.errors import ProblemError
from cadenza.gateway.multipart_upload import ReceivedForm, UploadRejectedError, receive_form
from cadenza.gateway.pagination import next_link
from cadenza.gateway.public_views import MatchView, Song, SongPageView
from cadenza.gateway.views import JobView

router = APIRouter(prefix="/api/v1/songs", tags=["songs"])

Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "No such song (or not yours, and not public)"}}
CATALOG_DOWN: Responses = {503: {"description": "The catalog service is not answering"}}

SONG_FORM = multipart_form(
    {
        "midi": binary("MIDI"),
        "audio": binary("WAV, FLAC, MP3, OGG or AIFF"),
        "title": {"type": "string", "maxLength": 300},
        "artist": {"type": "string", "maxLength": 300},
        "tags": {"type": "string", "description": "comma-separated"},
        "source": {"type": "string", "maxLength": 500},
        "public": {"type": "boolean"},
    },
    # A MIDI file, an audio file, or both.
    anyOf=[{"required": ["midi"]}, {"required": ["audio"]}],
)
MATCH_FORM = multipart_form({"file": binary("A MIDI or audio file")}, required=["file"])


class IngestView(BaseModel):
    """The ingest job, and the song once the job is done (with `?wait=`)."""

    job: JobView
    song: Song | None = None
    created: bool | None = None


async def _receive(
    request: Request, paths: dict[str, Path], limit: int, fields: frozenset[str] = frozenset()
) -> ReceivedForm:
    try:
        return await receive_form(request, paths, limit=limit, text_fields=fields)
    except UploadRejectedError as e:
        raise ProblemError(e.status, e.detail) from e


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
    services: ServicesDep,
    owner: WriterDep,
    wait: Annotated[
        float,
        Query(ge=0, le=songs.MAX_WAIT_S, description="Seconds to wait for the analysis (0: don't)"),
    ] = 0.0,
    project_id: Annotated[
        uuid.UUID | None,
        Query(description="Into this project: its members read it (you start jobs there)"),
    ] = None,
) -> Response:
    await songs.check_project(services, owner, project_id)
    with tempfile.TemporaryDirectory(prefix="cadenza-song-") as tmp:
        paths = {"midi": Path(tmp) / "midi", "audio": Path(tmp) / "audio"}
        form = await _receive(
            request, paths, services.settings.max_upload_bytes, songs.METADATA_FIELDS
        )
        added = await songs.add(services, owner, form.files, paths, form.fields, wait, project_id)
    job = JobView.of(added.job)
    headers = {"Location": job_location(added.job.id)}
    if added.song is not None:
        song = public_views.song(added.song)
        headers["Location"] = f"/api/v1/songs/{song.id}"
        view = IngestView(job=job, song=song, created=added.created)
        code = status.HTTP_201_CREATED if added.created else status.HTTP_200_OK
        return JSONResponse(view.model_dump(mode="json"), status_code=code, headers=headers)
    if added.job.status == "failed" and added.job.error:
        code = 422 if added.job.error.get("code") == "invalid_input" else 503
        raise ProblemError(code, added.job.error["reason"], job=job.model_dump(mode="json"))
    content = IngestView(job=job).model_dump(mode="json")
    return JSONResponse(content, status_code=status.HTTP_202_ACCEPTED, headers=headers)


@router.get(
    "",
    summary="Search songs: typo-tolerant title/artist text, tempo, key, tags; paged",
    responses=CATALOG_DOWN,
)
async def search_songs(
    request: Request,
    response: Response,
    services: ServicesDep,
    owner: PrincipalDep,
    q: Annotated[str | None, Query(max_length=200, description="Title and/or artist")] = None,
    tempo_min: Annotated[float | None, Query(ge=0, le=1000)] = None,
    tempo_max: Annotated[float | None, Query(ge=0, le=1000)] = None,
    key: Annotated[
        str | None,
        Query(
            max_length=12,
            description="C, F#, Bb; 'A minor' also sets mode",
            json_schema_extra={"pattern": songs.KEY_PATTERN},
        ),
    ] = None,
    mode: Annotated[str | None, Query(pattern="^(major|minor)$")] = None,
    tags: Annotated[list[str] | None, Query(description="Songs with all these tags")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the page before")
    ] = None,
) -> SongPageView:
    offset = offset_position(cursor)
    found = public_views.song_page(
        await songs.search(
            services,
            owner,
            q=q,
            tempo_min=tempo_min,
            tempo_max=tempo_max,
            key=key,
            mode=mode,
            tags=tags or [],
            limit=limit,
            offset=offset,
        )
    )
    after = found.offset + len(found.items)
    next_cursor = offset_cursor(after) if after < found.total and found.items else None
    return found.model_copy(
        update={"next_cursor": next_cursor, "next": next_link(request, response, next_cursor)}
    )


# A song id is a UUID in the path itself (`:uuid`): /songs/match and any other text are not
# songs (404), and GET /songs/match is a 405 naming POST, as the OpenAPI says.
@router.get("/{song_id:uuid}", summary="A song", responses={**NOT_FOUND, **CATALOG_DOWN})
async def get_song(song_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep) -> Song:
    return public_views.song(await songs.read(services, owner, song_id))


@router.get(
    "/{song_id:uuid}/similar",
    summary="The k most similar songs (cosine over the song embedding, HNSW index)",
    responses={**NOT_FOUND, **CATALOG_DOWN},
)
async def similar_songs(
    song_id: uuid.UUID,
    services: ServicesDep,
    owner: PrincipalDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SongPageView:
    return public_views.song_page(await songs.similar(services, owner, song_id, k))


# GET for the bytes, HEAD for their size and type (separate operations in the OpenAPI).
ASSET_DOWNLOAD: dict[str, Any] = {
    "summary": "Download a song's MIDI (`midi`) or audio (`audio`); Range supported",
    "response_class": Response,
    "responses": {**NOT_FOUND, **CATALOG_DOWN, **DOWNLOAD_RESPONSES},
}


@router.get("/{song_id:uuid}/assets/{name}", **ASSET_DOWNLOAD)
@router.head("/{song_id:uuid}/assets/{name}", **ASSET_DOWNLOAD)
async def download_asset(
    song_id: uuid.UUID,
    name: str,
    request: Request,
    services: ServicesDep,
    store: StoreDep,
    owner: PrincipalDep,
) -> Response:
    asset = await songs.asset(services, owner, song_id, name)
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
    services: ServicesDep,
    owner: PrincipalDep,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> MatchView:
    with tempfile.TemporaryDirectory(prefix="cadenza-match-") as tmp:
        path = Path(tmp) / "file"
        form = await _receive(request, {"file": path}, services.settings.max_upload_bytes)
        found = await songs.match(services, owner, form.files.get("file"), path, k)
    return public_views.match(found)
