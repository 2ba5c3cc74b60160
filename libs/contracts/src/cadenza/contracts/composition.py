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
Engine = Literal["learned", "markov"]
Ensemble = Literal["auto", "choir", "strings", "winds", "organ", "piano", "folk"]
MAX_SOURCE_TAGS, MAX_SOURCE_TAG = 32, 64


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
    # The catalog's tags ("chorale", "reel", …): the learned engine's style for the song.
    tags: tuple[str, ...] = Field(default=(), max_length=MAX_SOURCE_TAGS)

    @model_validator(mode="after")
    def _short_tags(self) -> Self:
        if any(len(tag) > MAX_SOURCE_TAG for tag in self.tags):
            raise ValueError(f"a source's tags are at most {MAX_SOURCE_TAG} characters")
        return self


class BlendSettings(BaseModel):
    """What the piece should be. Defaults come from the sources (key, tempo, and for the
    learned engine style, metre and form) or are fixed (32 bars, creativity 0.5, seed 0)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        # _one_length's rules, stated in the schema so clients and fuzzers know them.
        json_schema_extra={
            "not": {
                "required": ["length_bars", "length_seconds"],
                "properties": {
                    "length_bars": {"type": "integer"},
                    "length_seconds": {"type": "number"},
                },
            },
            "if": {"required": ["engine"], "properties": {"engine": {"const": "learned"}}},
            "then": {
                "properties": {
                    "lyrics": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0}]},
                    "style": {"type": "null"},
                }
            },
        },
    )

    length_bars: int | None = Field(default=None, ge=1, le=MAX_BARS)
    length_seconds: float | None = Field(default=None, ge=MIN_SECONDS, le=MAX_SECONDS)
    tempo_bpm: float | None = Field(
        default=None, ge=40, le=240, validation_alias=AliasChoices("tempo_bpm", "tempo")
    )
    key: str | None = Field(
        default=None, max_length=16, description='e.g. "A minor", "F#", "Eb major"'
    )
    engine: Engine | None = Field(
        default=None,
        description='"learned": the model trained on the corpus, in the sources\' styles;'
        ' "markov": n-gram models of the sources under a band arrangement (the one that sets'
        " lyrics and takes a band style). Default: learned, unless lyrics or style ask for"
        " markov.",
    )
    style: Style | None = Field(
        default=None, description="the markov engine's band arrangement (default pop)"
    )
    ensemble: Ensemble = Field(
        default="auto",
        description="the learned engine's instruments; auto: a choir for chorales and"
        " polyphony, a folk band for tunes",
    )
    creativity: float = Field(default=0.5, ge=0.0, le=1.0)
    temperature: float | None = Field(
        default=None,
        ge=0.1,
        le=2.0,
        description="the learned engine's sampling temperature (default 0.75 + 0.5 × creativity)",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    lyrics: str | None = Field(default=None, max_length=MAX_LYRICS)

    @model_validator(mode="after")
    def _one_length(self) -> Self:
        if self.length_bars is not None and self.length_seconds is not None:
            raise ValueError("give length_bars or length_seconds, not both")
        if self.engine == "learned" and (self.lyrics or self.style is not None):
            asked = "lyrics" if self.lyrics else f'the band style "{self.style}"'
            raise ValueError(
                f'{asked} need engine "markov"; the learned engine takes its style from the'
                " sources (choose its instruments with ensemble)"
            )
        return self


# The longest a blend of these settings can last, for budgets: the slowest tempo a blend may
# take from its sources, and the longest bar the learned engine writes (4/2 and 2/1 in
# renaissance polyphony hold eight quarters).
SLOWEST_BPM = 40.0
DEFAULT_BARS = 32
LONGEST_BAR_QUARTERS = 8


def longest_duration_s(settings: BlendSettings) -> float:
    if settings.length_seconds is not None:
        return settings.length_seconds
    bars = settings.length_bars or DEFAULT_BARS
    return bars * LONGEST_BAR_QUARTERS * 60.0 / (settings.tempo_bpm or SLOWEST_BPM)


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
