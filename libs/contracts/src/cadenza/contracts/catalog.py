"""Events of the catalog domain: ingesting songs, and the queries other services ask it.

Ingestion is a job like any other (`kind` "ingest", one stage "ingest"): the gateway stores
the files and publishes `catalog.ingest.requested`; the catalog analyses them and answers
`catalog.song.ingested` (with the song's id, new or existing) or `catalog.ingest.failed`.

Reads are core-NATS request/reply on `catalog.query.<name>` (never captured by a stream):
the catalog owns its tables, and nothing but these messages crosses the boundary.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.envelope import OWNER_PATTERN, Event
from cadenza.contracts.jobs import StageCompleted, StageFailed

STAGE = "ingest"
JOB_KIND = "ingest"
# The owner of songs everybody can read (the seeded corpus, songs published by their owner).
PUBLIC_OWNER = "public"

MAX_TITLE = 300
MAX_TAGS = 32
MAX_TAG = 64
TAG_PATTERN = r"^[a-z0-9][a-z0-9 _./+&-]{0,63}$"

Mode = Literal["major", "minor"]
PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class SongMetadata(BaseModel):
    """What a person says about a song; analysis adds the rest."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    artist: str = Field(default="", max_length=MAX_TITLE)
    tags: tuple[str, ...] = Field(default=(), max_length=MAX_TAGS)
    # Where the song comes from (a URL, "music21:bach/bwv66.6", "upload").
    source: str = Field(default="upload", max_length=500)
    # Public songs are readable by everybody; others only by their owner (and, in a
    # project, by its members).
    public: bool = False
    project_id: uuid.UUID | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _normalise_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            seen: dict[str, None] = {}
            for tag in value:
                if not isinstance(tag, str):
                    return value  # let the type check say what is wrong
                cleaned = " ".join(tag.lower().split())
                if cleaned:
                    seen[cleaned] = None
            return tuple(seen)
        return value

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if len(tag) > MAX_TAG or not re.match(TAG_PATTERN, tag):
                raise ValueError(
                    f"tag {tag[:80]!r} is not allowed: up to {MAX_TAG} characters, letters,"
                    " digits, spaces and _ . / + & -"
                )
        return value


class CatalogIngestRequested(Event):
    """Command: analyse these files and add (or find) the song."""

    subject: ClassVar[str] = "catalog.ingest.requested"

    metadata: SongMetadata
    midi: ArtifactRef | None = None
    audio: ArtifactRef | None = None
    # The original file names, for messages and the asset's download name.
    midi_filename: str | None = Field(default=None, max_length=255)
    audio_filename: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _has_a_file(self) -> CatalogIngestRequested:
        if self.midi is None and self.audio is None:
            raise ValueError("a song needs a MIDI file, an audio file, or both")
        return self


class CatalogSongIngested(StageCompleted):
    """Fact: the song is in the catalog. `details` carry `song_id`, `created` (False when the
    same file was already there), `duplicate_of`/`near_duplicates` and the analysis summary."""

    subject: ClassVar[str] = "catalog.song.ingested"

    song_id: uuid.UUID


class CatalogIngestFailed(StageFailed):
    subject: ClassVar[str] = "catalog.ingest.failed"


# ---------------------------------------------------------------------------------------
# Queries (request/reply). Every query says who asks: a principal sees public songs and
# their own, and another owner's song answers "not found".


QUERY_PREFIX = "catalog.query"


class QueryError(BaseModel):
    """A query's failure as the gateway turns it into HTTP: 404, 415, 422…"""

    model_config = ConfigDict(frozen=True)

    status: int = Field(ge=400, le=599)
    detail: str


# The most projects one query names (those the principal is a member of, most recent first).
MAX_QUERY_PROJECTS = 1000


class CatalogQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str]
    principal: str = Field(pattern=OWNER_PATTERN)
    # The projects the principal is a member of: their songs are the principal's to read.
    projects: tuple[uuid.UUID, ...] = Field(default=(), max_length=MAX_QUERY_PROJECTS)

    def viewer(self) -> list[str]:
        """Who reads: the principal first, then its projects (the catalog's VISIBLE rule)."""
        return [self.principal, *(str(p) for p in self.projects)]

    @classmethod
    def subject(cls) -> str:
        return f"{QUERY_PREFIX}.{cls.name}"


class SongSearch(CatalogQuery):
    name: ClassVar[str] = "search"

    q: str | None = Field(default=None, max_length=200)
    tempo_min: float | None = Field(default=None, ge=0, le=1000)
    tempo_max: float | None = Field(default=None, ge=0, le=1000)
    key: str | None = Field(default=None, max_length=2)  # tonic, e.g. "C", "F#"
    mode: Mode | None = None
    tags: tuple[str, ...] = Field(default=(), max_length=MAX_TAGS)
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=100_000)


class SongGet(CatalogQuery):
    name: ClassVar[str] = "get"

    song_id: uuid.UUID


class SongSimilar(CatalogQuery):
    name: ClassVar[str] = "similar"

    song_id: uuid.UUID
    k: int = Field(default=10, ge=1, le=100)


class SongMatch(CatalogQuery):
    """Is this file (MIDI or audio, already in storage) in the catalog, and how close?"""

    name: ClassVar[str] = "match"

    file: ArtifactRef
    filename: str = Field(default="upload", max_length=255)
    kind: Literal["midi", "audio"]
    k: int = Field(default=10, ge=1, le=100)


class SongAsset(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # "midi" or "audio"
    filename: str
    ref: ArtifactRef


class SongView(BaseModel):
    """A song as clients see it."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    title: str
    artist: str
    tags: tuple[str, ...]
    source: str
    public: bool
    owner: str
    project_id: uuid.UUID | None = None
    duration_s: float | None
    tempo_bpm: float | None
    key: str | None
    mode: Mode | None
    time_signature: str | None
    sha256: tuple[str, ...]
    assets: tuple[SongAsset, ...]
    analysis: dict[str, Any]
    near_duplicate_of: uuid.UUID | None
    created_at: datetime


class SongHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    song: SongView
    # Text search: trigram similarity (1 = exact); similarity: cosine similarity.
    score: float


class SongPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: tuple[SongHit, ...]
    total: int
    limit: int
    offset: int


class MatchResult(BaseModel):
    """What `match` found: the exact same file, the same recording, or similar songs."""

    model_config = ConfigDict(frozen=True)

    sha256: str
    exact: SongView | None = None
    # Audio fingerprint: the recording (re-encoded, trimmed) with the share of matching landmarks.
    recording: SongView | None = None
    recording_score: float | None = None
    recording_offset_s: float | None = None
    similar: tuple[SongHit, ...] = ()
    verdict: Literal["exact", "same_recording", "near_duplicate", "similar", "new"]


class QueryReply(BaseModel):
    """The one reply shape: exactly one of `result` and `error`."""

    model_config = ConfigDict(frozen=True)

    result: dict[str, Any] | None = None
    error: QueryError | None = None
