"""The catalog's tables (schema `catalog`): every SQL statement the service runs.

A principal sees public songs, their own and their projects'; every read takes the reader
(`Reader`: the principal, or the principal and the ids of its projects) and applies that
rule in SQL, so another owner's song is simply "not found".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.catalog import PITCH_CLASSES, SongAsset, SongSearch, SongView
from cadenza.runtime import database

MIGRATIONS = "cadenza.catalog.migrations"
MIGRATIONS_TABLE = "catalog_schema_migrations"

# $1 is the reader as text[]: the principal first, then the projects it is a member of.
VISIBLE = "(s.public OR s.owner = ($1::text[])[1] OR s.project_id::text = ANY($1::text[]))"
# The principal alone, or the principal and its projects (CatalogQuery.viewer()).
Reader = str | Sequence[str]


def reader(who: Reader) -> list[str]:
    return [who] if isinstance(who, str) else list(who)


SONG_COLUMNS = (
    "s.id, s.owner, s.public, s.project_id, s.title, s.artist, s.tags, s.source,"
    " s.duration_s, s.tempo_bpm,"
    " s.key_tonic, s.mode, s.time_signature, s.analysis, s.near_duplicate_of, s.created_at,"
    " (SELECT coalesce(jsonb_agg(to_jsonb(a) - 'song_id' ORDER BY a.name), '[]'::jsonb)"
    "  FROM catalog.song_assets a WHERE a.song_id = s.id) AS assets"
)


async def migrate(dsn: str) -> list[str]:
    """Apply the catalog's migrations (creates the pgvector extension and the schema)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await database.migrate(conn, MIGRATIONS, table=MIGRATIONS_TABLE)
    finally:
        await conn.close()


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    """A pool that speaks pgvector; call after `migrate` (the extension must exist)."""
    return await database.create_pool(dsn, size, init=register_vector)


@dataclass(frozen=True)
class NewSong:
    id: uuid.UUID
    owner: str
    public: bool
    title: str
    artist: str
    tags: tuple[str, ...]
    source: str
    duration_s: float | None
    tempo_bpm: float | None
    key_tonic: int | None
    mode: str | None
    time_signature: str | None
    analysis: dict[str, Any]
    embedding: np.ndarray
    search_trigrams: list[str]
    near_duplicate_of: uuid.UUID | None
    near_duplicate_similarity: float | None
    ingest_job_id: uuid.UUID
    project_id: uuid.UUID | None = None


def song_view(row: asyncpg.Record) -> SongView:
    tonic = row["key_tonic"]
    assets = tuple(
        SongAsset(
            name=a["name"],
            filename=a["filename"],
            ref=ArtifactRef(
                uri=a["uri"],
                media_type=a["media_type"],
                bytes=a["bytes"],
                sha256=a["sha256"],
                duration_s=a["duration_s"],
                sample_rate=a["sample_rate"],
                channels=a["channels"],
            ),
        )
        for a in row["assets"]
    )
    return SongView(
        id=row["id"],
        title=row["title"],
        artist=row["artist"],
        tags=tuple(row["tags"]),
        source=row["source"],
        public=row["public"],
        owner=row["owner"],
        project_id=row["project_id"],
        duration_s=row["duration_s"],
        tempo_bpm=row["tempo_bpm"],
        key=PITCH_CLASSES[tonic] if tonic is not None else None,
        mode=row["mode"],
        time_signature=row["time_signature"],
        sha256=tuple(a.ref.sha256 for a in assets),
        assets=assets,
        analysis=row["analysis"],
        near_duplicate_of=row["near_duplicate_of"],
        created_at=row["created_at"],
    )


async def song_by_ingest_job(conn: asyncpg.Connection, job_id: uuid.UUID) -> SongView | None:
    row = await conn.fetchrow(
        f"SELECT {SONG_COLUMNS} FROM catalog.songs s WHERE s.ingest_job_id = $1", job_id
    )
    return song_view(row) if row else None


async def get_song(
    conn: asyncpg.Connection | asyncpg.Pool, principal: Reader, song_id: uuid.UUID
) -> SongView | None:
    row = await conn.fetchrow(
        f"SELECT {SONG_COLUMNS} FROM catalog.songs s WHERE {VISIBLE} AND s.id = $2",
        reader(principal),
        song_id,
    )
    return song_view(row) if row else None


async def visible_song_with_file(
    conn: asyncpg.Connection | asyncpg.Pool, principal: Reader, sha256: str
) -> SongView | None:
    """The song (visible to `principal`) that already has this exact file; own songs first."""
    row = await conn.fetchrow(
        f"SELECT {SONG_COLUMNS} FROM catalog.songs s"
        f" JOIN catalog.song_assets f ON f.song_id = s.id"
        f" WHERE {VISIBLE} AND f.sha256 = $2"
        " ORDER BY (s.owner = ($1::text[])[1]) DESC, s.created_at LIMIT 1",
        reader(principal),
        sha256,
    )
    return song_view(row) if row else None


async def nearest(
    conn: asyncpg.Connection,
    principal: Reader,
    embedding: np.ndarray,
    k: int,
    *,
    exclude: uuid.UUID | None = None,
    ef_search: int = 64,
) -> list[tuple[SongView, float]]:
    """The `k` visible songs nearest by cosine (HNSW index), with their cosine similarity."""
    async with conn.transaction():
        # Post-filtering (visibility, exclusion) needs a few more candidates than k.
        await conn.execute(f"SET LOCAL hnsw.ef_search = {max(ef_search, 2 * k + 10)}")
        rows = await conn.fetch(
            f"SELECT {SONG_COLUMNS}, 1 - (s.embedding <=> $2) AS similarity"
            f" FROM catalog.songs s WHERE {VISIBLE} AND s.id IS DISTINCT FROM $3"
            " ORDER BY s.embedding <=> $2 LIMIT $4",
            reader(principal),
            embedding,
            exclude,
            k,
        )
    return [(song_view(r), float(r["similarity"])) for r in rows]


async def embedding_of(
    conn: asyncpg.Connection, principal: Reader, song_id: uuid.UUID
) -> np.ndarray | None:
    value = await conn.fetchval(
        f"SELECT s.embedding FROM catalog.songs s WHERE {VISIBLE} AND s.id = $2",
        reader(principal),
        song_id,
    )
    return None if value is None else np.asarray(value.to_numpy(), dtype=np.float32)


async def insert_song(
    conn: asyncpg.Connection,
    song: NewSong,
    assets: Sequence[SongAsset],
    landmarks: np.ndarray | None,
) -> bool:
    """Insert the song, its assets and fingerprints; False when the job's song exists."""
    inserted = await conn.fetchval(
        "INSERT INTO catalog.songs (id, owner, public, title, artist, tags, source, duration_s,"
        " tempo_bpm, key_tonic, mode, time_signature, analysis, embedding, search_trigrams,"
        " near_duplicate_of, near_duplicate_similarity, ingest_job_id, project_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        " $18, $19) ON CONFLICT DO NOTHING RETURNING id",
        song.id,
        song.owner,
        song.public,
        song.title,
        song.artist,
        list(song.tags),
        song.source,
        song.duration_s,
        song.tempo_bpm,
        song.key_tonic,
        song.mode,
        song.time_signature,
        song.analysis,
        song.embedding,
        song.search_trigrams,
        song.near_duplicate_of,
        song.near_duplicate_similarity,
        song.ingest_job_id,
        song.project_id,
    )
    if inserted is None:
        return False
    await conn.executemany(
        "INSERT INTO catalog.song_assets (song_id, name, filename, uri, media_type, bytes,"
        " sha256, duration_s, sample_rate, channels)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [
            (
                song.id,
                a.name,
                a.filename,
                a.ref.uri,
                a.ref.media_type,
                a.ref.bytes,
                a.ref.sha256,
                a.ref.duration_s,
                a.ref.sample_rate,
                a.ref.channels,
            )
            for a in assets
        ],
    )
    if landmarks is not None and len(landmarks):
        await conn.copy_records_to_table(
            "fingerprints",
            schema_name="catalog",
            columns=["hash", "song_id", "frame"],
            records=((int(h), song.id, int(f)) for h, f in landmarks),
        )
    return True


async def search(
    conn: asyncpg.Connection | asyncpg.Pool,
    query: SongSearch,
    *,
    query_trigrams: list[str],
    min_score: float,
) -> tuple[list[tuple[SongView, float]], int]:
    """One page of visible songs matching the text and filters, best first; and the total."""
    where = [VISIBLE]
    args: list[Any] = [query.viewer()]

    def bind(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    score = "1.0::float8"
    if query_trigrams:
        q = bind(query_trigrams)
        score = (
            f"(SELECT count(*) FROM unnest(s.search_trigrams) t WHERE t = ANY({q}))::float8"
            f" / cardinality({q})"
        )
        where.append(f"s.search_trigrams && {q}")
    if query.tempo_min is not None:
        where.append(f"s.tempo_bpm >= {bind(query.tempo_min)}")
    if query.tempo_max is not None:
        where.append(f"s.tempo_bpm <= {bind(query.tempo_max)}")
    if query.key is not None:
        where.append(f"s.key_tonic = {bind(PITCH_CLASSES.index(query.key))}")
    if query.mode is not None:
        where.append(f"s.mode = {bind(query.mode)}")
    if query.tags:
        where.append(f"s.tags @> {bind(list(query.tags))}")
    threshold = bind(min_score if query_trigrams else 0.0)
    matched = (
        f"WITH matched AS (SELECT s.id, {score} AS score FROM catalog.songs s"
        f" WHERE {' AND '.join(where)})"
    )
    count_args = list(args)
    limit, offset = bind(query.limit), bind(query.offset)
    rows = await conn.fetch(
        f"{matched} SELECT {SONG_COLUMNS}, m.score, count(*) OVER () AS total"
        f" FROM matched m JOIN catalog.songs s ON s.id = m.id"
        f" WHERE m.score >= {threshold}"
        " ORDER BY m.score DESC, length(s.title), s.title, s.id"
        f" LIMIT {limit} OFFSET {offset}",
        *args,
    )
    if rows:
        total = int(rows[0]["total"])
    else:  # a page past the end: count separately
        total = int(
            await conn.fetchval(
                f"{matched} SELECT count(*) FROM matched m WHERE m.score >= {threshold}",
                *count_args,
            )
        )
    return [(song_view(r), float(r["score"])) for r in rows], total


async def fingerprint_votes(
    conn: asyncpg.Connection,
    principal: Reader,
    landmarks: np.ndarray,
    *,
    candidates: int = 5,
) -> list[tuple[uuid.UUID, int, int]]:
    """(song id, votes, frame offset) of the visible songs sharing the most landmarks at one
    constant time offset (song frame − query frame), best first."""
    if not len(landmarks):
        return []
    rows = await conn.fetch(
        "WITH q AS (SELECT * FROM unnest($2::int4[], $3::int4[]) AS q(hash, frame)),"
        " hits AS (SELECT f.song_id, f.frame - q.frame AS delta, count(*) AS votes"
        "  FROM q JOIN catalog.fingerprints f ON f.hash = q.hash"
        "  GROUP BY f.song_id, f.frame - q.frame)"
        " SELECT DISTINCT ON (h.song_id) h.song_id, h.votes, h.delta"
        " FROM hits h JOIN catalog.songs s ON s.id = h.song_id"
        f" WHERE {VISIBLE} ORDER BY h.song_id, h.votes DESC",
        reader(principal),
        [int(h) for h in landmarks[:, 0]],
        [int(f) for f in landmarks[:, 1]],
    )
    best = sorted(
        ((r["song_id"], int(r["votes"]), int(r["delta"])) for r in rows), key=lambda r: -r[1]
    )
    return best[:candidates]


async def count_songs(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM catalog.songs"))
