"""Events of the composition domain: blend catalog songs into a new piece."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.pipeline import PipelineCommand

STAGE = "blend"
MIN_SOURCES, MAX_SOURCES = 2, 5
MAX_BARS = 512
MIN_SECONDS, MAX_SECONDS = 5.0, 900.0
MAX_LYRICS = 5000
Style = Literal["pop", "rock", "ballad", "folk", "dance"]
STYLES: tuple[str, ...] = ("pop", "rock", "ballad", "folk", "dance")


class BlendSource(BaseModel):
    """A catalog song to blend, as the gateway resolved it: its MIDI and what the catalog
    knows of its key and tempo."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    song_id: uuid.UUID
    title: str = Field(max_length=300)
    artist: str = Field(default="", max_length=300)
    midi: ArtifactRef
    key: str | None = Field(default=None, max_length=2)
    mode: Literal["major", "minor"] | None = None
    tempo_bpm: float | None = Field(default=None, gt=0, le=1000)


class BlendSettings(BaseModel):
    """What the piece should be. Defaults come from the sources (key, tempo) or are fixed
    (32 bars, pop, creativity 0.5, seed 0)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    length_bars: int | None = Field(default=None, ge=1, le=MAX_BARS)
    length_seconds: float | None = Field(default=None, ge=MIN_SECONDS, le=MAX_SECONDS)
    tempo_bpm: float | None = Field(
        default=None, ge=40, le=240, validation_alias=AliasChoices("tempo_bpm", "tempo")
    )
    key: str | None = Field(
        default=None, max_length=16, description='e.g. "A minor", "F#", "Eb major"'
    )
    style: Style = "pop"
    creativity: float = Field(default=0.5, ge=0.0, le=1.0)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    lyrics: str | None = Field(default=None, max_length=MAX_LYRICS)

    @model_validator(mode="after")
    def _one_length(self) -> Self:
        if self.length_bars is not None and self.length_seconds is not None:
            raise ValueError("give length_bars or length_seconds, not both")
        return self


class CompositionRequested(PipelineCommand):
    """Command: blend `sources` into a new piece (blend.mid, blend.musicxml, summary.json)."""

    subject: ClassVar[str] = "composition.requested"

    stage: str = STAGE
    sources: tuple[BlendSource, ...] = Field(min_length=MIN_SOURCES, max_length=MAX_SOURCES)
    settings: BlendSettings = BlendSettings()


class CompositionCompleted(StageCompleted):
    """`details` carry the piece's summary: key, tempo, sections, chords, influence of each
    source, the originality measurement and the lyric alignment."""

    subject: ClassVar[str] = "composition.completed"


class CompositionFailed(StageFailed):
    subject: ClassVar[str] = "composition.failed"
