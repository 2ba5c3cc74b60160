"""What every job request shares: strict models, the input, the output format, a context."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.artifacts import ARTIFACT_NAME_PATTERN, ArtifactRef
from cadenza.contracts.audio_format import BIT_DEPTH_FITS_FORMAT, AudioFormatName, OutputFormat
from cadenza.contracts.composition import BlendSource
from cadenza.contracts.routing import MIDI_TYPES
from cadenza.contracts.separation import ModelInfo
from cadenza.gateway.repository import Upload

Problem = dict[str, str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class JobRequestBase(Strict):
    """What every job kind answers; kinds that blend catalog songs override it."""

    # The parameter that says how outputs are encoded (a budget refusal names it).
    OUTPUT_PARAM: ClassVar[str] = "output"

    project_id: uuid.UUID | None = Field(
        default=None,
        description="Start it in this project: its members see it (you need the owner,"
        " admin, producer or artist role there)",
    )

    def songs_to_resolve(self) -> tuple[str, list[str]] | None:
        """(the field they are under, the song ids or names) to look up in the catalog."""
        return None

    def budget_field(self, stage: int, param: str) -> str:
        """The request field behind `param` ("output", "chain", "chain.3") of stage `stage`,
        for a refusal of the job's budget."""
        return f"params.{self.OUTPUT_PARAM if param == 'output' else param}"


class UploadInput(Strict):
    upload_id: uuid.UUID


class JobArtifactInput(Strict):
    """An artifact of one of your earlier jobs (e.g. a rendered mix to master)."""

    job_id: uuid.UUID
    artifact: str = Field(pattern=ARTIFACT_NAME_PATTERN)


class SongInput(Strict):
    """A catalog song (its MIDI)."""

    song_id: uuid.UUID


AnyInput = UploadInput | JobArtifactInput | SongInput


class OutputParams(Strict):
    """How audio outputs are encoded; shared by every job that writes audio."""

    model_config = ConfigDict(
        json_schema_extra=lambda schema: schema.update(copy.deepcopy(BIT_DEPTH_FITS_FORMAT))
    )

    format: AudioFormatName = "wav"
    bit_depth: Literal[16, 24, 32] | None = Field(
        None, description="wav: 16, 24 (default) or 32 (float); flac: 16 or 24 (default)"
    )
    quality: float = Field(0.8, ge=0.0, le=1.0, description="mp3/ogg: 0 smallest .. 1 best")

    @model_validator(mode="after")
    def _valid_output(self) -> Self:
        self.output()  # raises ValueError, reported against `params`
        return self

    def output(self) -> OutputFormat:
        return OutputFormat(format=self.format, bit_depth=self.bit_depth, quality=self.quality)

    def format_problems(self, upload: Upload | None) -> list[Problem]:
        if upload is None:
            return []
        if problem := self.output().sample_rate_problem(upload.sample_rate, upload.channels):
            return [{"field": "params.format", "message": problem}]
        return []


@dataclass(frozen=True)
class Context:
    """What checking and planning a job may look at: its input resolved (an upload, an
    earlier job's artifact or a catalog song's MIDI) and, for blends, the catalog songs."""

    job_id: uuid.UUID
    owner: str
    correlation_id: uuid.UUID
    upload: Upload | None
    models: dict[str, ModelInfo]
    source: ArtifactRef | None = None
    songs: tuple[BlendSource, ...] = ()

    def require_upload(self) -> Upload:
        if self.upload is None:
            raise ValueError("this job needs an upload as its input")
        return self.upload

    @property
    def input_kind(self) -> str | None:
        """ "midi", "audio" or None (no input)."""
        if self.source is None:
            return None
        return "midi" if self.source.media_type in MIDI_TYPES else "audio"


def input_ref(upload: Upload) -> ArtifactRef:
    return ArtifactRef(
        uri=upload.uri,
        media_type=upload.media_type,
        bytes=upload.bytes,
        sha256=upload.sha256,
        duration_s=upload.duration_s,
        sample_rate=upload.sample_rate,
        channels=upload.channels,
    )
