"""What leaves the API about stored files: download URLs of the API, never storage URIs.

The catalog's songs and the events of a job carry `ArtifactRef`s whose `uri` says where a
file is stored (file:///var/…, s3://bucket/…): the server's layout, not the client's
business. Songs answer with their assets' API URLs instead; a job's parameters, stage
details and recorded events lose the `uri` of every reference they hold.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from cadenza.contracts.catalog import MatchResult, SongHit, SongPage, SongView


class SongAssetView(BaseModel):
    """One of a song's files: `midi` or `audio`."""

    name: str
    filename: str
    url: str = Field(description="Download path, relative to the API root")
    media_type: str
    bytes: int
    sha256: str
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


class Song(SongView):
    """A catalog song as clients see it."""

    assets: tuple[SongAssetView, ...]  # type: ignore[assignment]


class SongHitView(SongHit):
    song: Song


class SongPageView(SongPage):
    items: tuple[SongHitView, ...]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page (None on the last)"
    )
    next: str | None = Field(
        default=None, description="The next page's path and query (also the `Link` header)"
    )


class MatchView(MatchResult):
    exact: Song | None = None
    recording: Song | None = None
    similar: tuple[SongHitView, ...] = ()


def public_song(song: dict[str, Any]) -> dict[str, Any]:
    """A song as the catalog answers it (JSON), with each asset's API URL for its storage
    reference."""
    song_id = song["id"]
    assets = []
    for asset in song.get("assets", ()):
        ref = {k: v for k, v in asset["ref"].items() if k != "uri"}
        assets.append(
            {
                "name": asset["name"],
                "filename": asset["filename"],
                "url": song_asset_url(song_id, asset["name"]),
                **ref,
            }
        )
    return {**song, "assets": assets}


def _public_hits(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**hit, "song": public_song(hit["song"])} for hit in hits]


def song(data: dict[str, Any]) -> Song:
    return Song.model_validate(public_song(data))


def song_page(data: dict[str, Any]) -> SongPageView:
    return SongPageView.model_validate({**data, "items": _public_hits(data["items"])})


def match(data: dict[str, Any]) -> MatchView:
    found = dict(data)
    for field in ("exact", "recording"):
        if found.get(field):
            found[field] = public_song(found[field])
    found["similar"] = _public_hits(found.get("similar", []))
    return MatchView.model_validate(found)


def without_storage_uris(value: Any) -> Any:
    """`value` (JSON data) with the `uri` of every artifact reference in it removed."""
    if isinstance(value, dict):
        is_ref = "uri" in value and "sha256" in value and "media_type" in value
        return {k: without_storage_uris(v) for k, v in value.items() if not (is_ref and k == "uri")}
    if isinstance(value, list):
        return [without_storage_uris(v) for v in value]
    return value


def song_asset_url(song_id: uuid.UUID | str, name: str) -> str:
    return f"/api/v1/songs/{song_id}/assets/{name}"
