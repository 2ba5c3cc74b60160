"""Answers to `catalog.query.*` requests: search, get, similar songs, and match a file.

Each handler takes the request's JSON and returns a `QueryReply`: a result, or an error with
the HTTP status and a sentence the gateway passes on unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import Histogram
from pydantic import BaseModel, ValidationError

from cadenza.catalog import repository, text_search
from cadenza.catalog.analysis.fingerprint import FRAME_SECONDS, is_same_recording
from cadenza.catalog.ingest import Catalog, local_file
from cadenza.catalog.song_analysis import AnalysisError
from cadenza.contracts.catalog import (
    CatalogQuery,
    MatchResult,
    QueryError,
    QueryReply,
    SongGet,
    SongHit,
    SongMatch,
    SongPage,
    SongSearch,
    SongSimilar,
)
from cadenza.runtime.fair import OwnerBusyError
from cadenza.runtime.worker import PermanentError

log = logging.getLogger(__name__)

QUERY_SECONDS = Histogram(
    "cadenza_catalog_query_seconds",
    "Time to answer a catalog query, by query",
    ["query"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
)


class QueryFailedError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _not_found(song_id: object) -> QueryFailedError:
    return QueryFailedError(404, f"song {song_id} not found")


async def search(catalog: Catalog, query: SongSearch) -> BaseModel:
    if (
        query.tempo_min is not None
        and query.tempo_max is not None
        and query.tempo_min > query.tempo_max
    ):
        raise QueryFailedError(422, "tempo_min is larger than tempo_max")
    grams = text_search.trigrams(query.q or "")
    if query.q and not grams:
        raise QueryFailedError(422, "the search text has no letters or digits to search for")
    hits, total = await repository.search(
        catalog.db, query, query_trigrams=grams, min_score=text_search.MIN_SCORE
    )
    return SongPage(
        items=tuple(SongHit(song=song, score=round(score, 4)) for song, score in hits),
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


async def get(catalog: Catalog, query: SongGet) -> BaseModel:
    song = await repository.get_song(catalog.db, query.viewer(), query.song_id)
    if song is None:
        raise _not_found(query.song_id)
    return song


async def similar(catalog: Catalog, query: SongSimilar) -> BaseModel:
    async with catalog.db.acquire() as conn:
        embedding = await repository.embedding_of(conn, query.viewer(), query.song_id)
        if embedding is None:
            raise _not_found(query.song_id)
        hits = await repository.nearest(
            conn,
            query.viewer(),
            embedding,
            query.k,
            exclude=query.song_id,
            ef_search=catalog.settings.hnsw_ef_search,
        )
    return SongPage(
        items=tuple(SongHit(song=s, score=round(score, 4)) for s, score in hits),
        total=len(hits),
        limit=query.k,
        offset=0,
    )


async def match(catalog: Catalog, query: SongMatch) -> BaseModel:
    settings = catalog.settings
    try:
        async with local_file(catalog.store, query.file) as path:
            assert path is not None
            sha256 = await asyncio.to_thread(_sha256, path)
            exact = await repository.visible_song_with_file(catalog.db, query.viewer(), sha256)
            if exact is not None:
                return MatchResult(sha256=sha256, exact=exact, verdict="exact")
            try:
                analysis = await catalog.analyse(
                    query.principal,
                    path if query.kind == "midi" else None,
                    path if query.kind == "audio" else None,
                    queue=False,
                )
            except AnalysisError as e:
                raise QueryFailedError(422, f"{query.filename}: {e}") from e
            except OwnerBusyError as e:
                raise QueryFailedError(429, str(e)) from e
    except PermanentError as e:
        raise QueryFailedError(422, str(e)) from e
    recording = None
    recording_score = None
    offset_s = None
    async with catalog.db.acquire() as conn:
        if analysis.landmarks is not None and len(analysis.landmarks):
            votes = await repository.fingerprint_votes(conn, query.viewer(), analysis.landmarks)
            if votes and is_same_recording(votes[0][1], len(analysis.landmarks)):
                song_id, count, delta = votes[0]
                recording = await repository.get_song(conn, query.viewer(), song_id)
                recording_score = round(count / len(analysis.landmarks), 4)
                offset_s = round(delta * FRAME_SECONDS, 3)
        hits = await repository.nearest(
            conn,
            query.viewer(),
            analysis.embedding,
            query.k,
            ef_search=settings.hnsw_ef_search,
        )
    similar_hits = tuple(SongHit(song=s, score=round(score, 4)) for s, score in hits)
    if recording is not None:
        verdict = "same_recording"
    elif hits and hits[0][1] >= settings.near_duplicate_similarity:
        verdict = "near_duplicate"
    elif similar_hits:
        verdict = "similar"
    else:
        verdict = "new"
    return MatchResult(
        sha256=sha256,
        recording=recording,
        recording_score=recording_score,
        recording_offset_s=offset_s,
        similar=similar_hits,
        verdict=verdict,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


QUERIES: dict[type[CatalogQuery], Callable[[Catalog, Any], Awaitable[BaseModel]]] = {
    SongSearch: search,
    SongGet: get,
    SongSimilar: similar,
    SongMatch: match,
}


def handler_for(catalog: Catalog, kind: type[CatalogQuery]) -> Callable[[bytes], Awaitable[bytes]]:
    answer = QUERIES[kind]

    async def handle(payload: bytes) -> bytes:
        with QUERY_SECONDS.labels(kind.name).time():
            try:
                query = kind.model_validate_json(payload)
                result = await answer(catalog, query)
                reply = QueryReply(result=result.model_dump(mode="json"))
            except ValidationError as e:
                reply = QueryReply(error=QueryError(status=422, detail=_first_error(e)))
            except QueryFailedError as e:
                reply = QueryReply(error=QueryError(status=e.status, detail=e.detail))
            except Exception:
                reference = uuid.uuid4().hex[:12]
                log.exception("catalog query %s failed (ref %s)", kind.name, reference)
                reply = QueryReply(
                    error=QueryError(
                        status=503,
                        detail="the catalog could not answer; try again, or quote reference "
                        f"{reference} when reporting it",
                    )
                )
        return reply.model_dump_json().encode()

    return handle


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
