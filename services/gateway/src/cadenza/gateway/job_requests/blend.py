"""`{"kind": "blend", ...}`: a new piece from 2–5 catalog songs."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from cadenza.contracts.composition import (
    MAX_SOURCES,
    MIN_SOURCES,
    STAGE,
    BlendSettings,
    CompositionRequested,
)
from cadenza.contracts.envelope import Event
from cadenza.contracts.pipeline import PREVIEW_SECONDS, PREVIEW_STAGE, RenderParams, RenderStep
from cadenza.gateway.job_requests.common import Context, JobRequestBase, Problem

# More than this is refused by validation itself; 2..5 is checked with a sentence.
MAX_LISTED_SONGS = 100


class BlendParams(BlendSettings):
    songs: list[str] = Field(
        max_length=MAX_LISTED_SONGS,
        description='2 to 5 songs: catalog ids, or "Title - Artist" (or just "Title")',
        # Up to MAX_LISTED_SONGS parse, and a wrong count is a sentence; the schema says 2..5.
        json_schema_extra={"minItems": MIN_SOURCES, "maxItems": MAX_SOURCES},
    )
    preview: bool = Field(
        True,
        description=f"Also render the piece's first {PREVIEW_SECONDS:.0f} s to preview.mp3 with"
        " the default SoundFont (a stage of its own), unless the job renders the whole piece",
    )

    def settings(self) -> BlendSettings:
        return BlendSettings.model_validate(self.model_dump(exclude={"songs", "preview"}))


def preview_step() -> RenderStep:
    return RenderStep(stage=PREVIEW_STAGE, params=RenderParams.preview())


def song_count_problems(songs: list[str], field: str) -> list[Problem]:
    if MIN_SOURCES <= len(songs) <= MAX_SOURCES:
        return []
    return [
        {
            "field": field,
            "message": f"a blend takes {MIN_SOURCES} to {MAX_SOURCES} songs; got {len(songs)}",
        }
    ]


def blend_command(
    cause: Event, context: Context, settings: BlendSettings, **step: Any
) -> CompositionRequested:
    return CompositionRequested.caused_by(cause, sources=context.songs, settings=settings, **step)


class BlendJobRequest(JobRequestBase):
    kind: Literal["blend"]
    params: BlendParams

    input: ClassVar[None] = None

    @property
    def stages(self) -> tuple[str, ...]:
        return (STAGE, PREVIEW_STAGE) if self.params.preview else (STAGE,)

    def songs_to_resolve(self) -> tuple[str, list[str]]:
        return "params.songs", self.params.songs

    def problems(self, context: Context) -> list[Problem]:
        return []

    def resolved_params(self, context: Context) -> dict[str, Any]:
        return {
            **self.params.model_dump(mode="json", exclude_none=True),
            "songs": [str(song.song_id) for song in context.songs],
        }

    def commands(self, cause: Event, context: Context) -> list[Event]:
        # The preview is the last stage, so the blend's own outputs keep their plain names.
        slip = (preview_step(),) if self.params.preview else ()
        return [blend_command(cause, context, self.params.settings(), slip=slip)]
