"""What a job request points at, made concrete before the job is planned: an upload, an
artifact of an earlier job, a catalog song's MIDI, and the songs a blend names."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from faststream.nats import NatsBroker

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.catalog import (
    MAX_QUERY_PROJECTS,
    SongGet,
    SongPage,
    SongSearch,
    SongView,
)
from cadenza.contracts.composition import BlendSource
from cadenza.gateway import repository
from cadenza.gateway.application.errors import NotFoundError, UnprocessableError
from cadenza.gateway.catalog_client import ask
from cadenza.gateway.job_requests.common import (
    AnyInput,
    JobArtifactInput,
    SongInput,
    UploadInput,
    input_ref,
)
from cadenza.gateway.projects.repository import project_ids_of
from cadenza.gateway.repository import Upload

# A "Title - Artist" string matches a catalog title at least this well (trigram score).
MIN_TITLE_SCORE = 0.5


@dataclass(frozen=True)
class ResolvedInput:
    upload: Upload | None = None
    source: ArtifactRef | None = None
    # A catalog song's MIDI: how many parts the catalog's analysis found (for the budget).
    midi_tracks: int | None = None


async def resolve_input(
    given: AnyInput | None,
    *,
    pool: asyncpg.Pool,
    broker: NatsBroker,
    owner: str,
) -> ResolvedInput:
    if given is None:
        return ResolvedInput()
    if isinstance(given, UploadInput):
        upload = await repository.get_upload(pool, owner, given.upload_id)
        if upload is None:
            raise UnprocessableError.one("input.upload_id", f"no upload with id {given.upload_id}")
        return ResolvedInput(upload=upload, source=input_ref(upload))
    if isinstance(given, JobArtifactInput):
        job = await repository.get_job(pool, owner, given.job_id)
        ref = job.artifacts.get(given.artifact) if job else None
        if ref is None:
            raise UnprocessableError.one(
                "input", f"job {given.job_id} has no artifact named {given.artifact!r}"
            )
        return ResolvedInput(source=ArtifactRef.model_validate(ref))
    assert isinstance(given, SongInput)
    projects = await project_ids_of(pool, owner, MAX_QUERY_PROJECTS)
    song = await _get_song(broker, owner, given.song_id, "input.song_id", projects)
    midi = _song_midi(song, "input.song_id").midi
    if midi.duration_s is None and song.duration_s:
        midi = midi.model_copy(update={"duration_s": song.duration_s})
    instruments = song.analysis.get("midi", {}).get("instruments")
    tracks = len(instruments) if isinstance(instruments, list) else None
    return ResolvedInput(source=midi, midi_tracks=tracks)


async def _get_song(
    broker: NatsBroker,
    owner: str,
    song_id: uuid.UUID,
    field: str,
    projects: tuple[uuid.UUID, ...] = (),
) -> SongView:
    query = SongGet(principal=owner, projects=projects, song_id=song_id)
    try:
        return SongView.model_validate(await ask(broker, query))
    except NotFoundError as e:
        raise UnprocessableError.one(field, f"no catalog song with id {song_id}") from e


def _song_midi(song: SongView, field: str) -> BlendSource:
    midi = next((a.ref for a in song.assets if a.name == "midi"), None)
    if midi is None:
        raise UnprocessableError.one(
            field, f"song {song.title!r} ({song.id}) has no MIDI; only songs with MIDI can be used"
        )
    return BlendSource(
        song_id=song.id,
        title=song.title,
        artist=song.artist,
        midi=midi,
        key=song.key,
        mode=song.mode,
        tempo_bpm=song.tempo_bpm,
        tags=song.tags,
    )


async def _find_by_title(
    broker: NatsBroker, owner: str, text: str, field: str, projects: tuple[uuid.UUID, ...] = ()
) -> SongView:
    title, _, artist = text.rpartition(" - ") if " - " in text else (text, "", "")
    title, artist = title.strip(), artist.strip()
    page = SongPage.model_validate(
        await ask(broker, SongSearch(principal=owner, projects=projects, q=title[:200], limit=20))
    )
    hits = [
        hit for hit in page.items if not artist or artist.casefold() in hit.song.artist.casefold()
    ]
    exact = [h for h in hits if h.song.title.casefold() == title.casefold()]
    if len({h.song.id for h in exact}) > 1:
        ids = ", ".join(str(h.song.id) for h in exact[:5])
        raise UnprocessableError.one(
            field,
            f"{len(exact)} catalog songs are called {text!r}; name one by its id ({ids})",
        )
    best = exact[0] if exact else (hits[0] if hits and hits[0].score >= MIN_TITLE_SCORE else None)
    if best is None:
        near = ", ".join(repr(h.song.title) for h in page.items[:3])
        hint = f"; closest: {near}" if near else ""
        raise UnprocessableError.one(field, f"no catalog song matches {text!r}{hint}")
    return best.song


async def resolve_songs(
    broker: NatsBroker,
    owner: str,
    field: str,
    songs: list[str],
    projects: tuple[uuid.UUID, ...] = (),
) -> tuple[BlendSource, ...]:
    """Each entry a song id or "Title - Artist" (or "Title"), in order; a 422 names the
    entry that matches nothing (or a song without MIDI)."""

    async def one(index: int, text: str) -> BlendSource:
        where = f"{field}.{index}"
        try:
            song_id: Any = uuid.UUID(text.strip())
        except ValueError:
            song_id = None
        if song_id is not None:
            song = await _get_song(broker, owner, song_id, where, projects)
        else:
            if not text.strip():
                raise UnprocessableError.one(where, "an empty song name")
            song = await _find_by_title(broker, owner, text, where, projects)
        return _song_midi(song, where)

    outcomes = await asyncio.gather(
        *(one(i, s) for i, s in enumerate(songs)), return_exceptions=True
    )
    # Every entry that fails is named, in order (not whichever answer came back first).
    problems = [p for o in outcomes if isinstance(o, UnprocessableError) for p in o.problems]
    if problems:
        raise UnprocessableError(problems)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    resolved = tuple(o for o in outcomes if isinstance(o, BlendSource))
    first_index: dict[uuid.UUID, int] = {}
    for index, source in enumerate(resolved):
        if (earlier := first_index.setdefault(source.song_id, index)) != index:
            raise UnprocessableError.one(
                f"{field}.{index}",
                f"{songs[index]!r} is the same song as entry {earlier} ({source.title!r}); "
                "a blend takes different songs",
            )
    return resolved
