"""What every job request shares: strict models, the input, the output format, a context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.audio_format import AudioFormatName, OutputFormat
from cadenza.contracts.separation import ModelInfo
from cadenza.gateway.repository import Upload

Problem = dict[str, str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class UploadInput(Strict):
    upload_id: uuid.UUID


class OutputParams(Strict):
    """How audio outputs are encoded; shared by every job that writes audio."""

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

    def format_problems(self, upload: Upload) -> list[Problem]:
        if problem := self.output().sample_rate_problem(upload.sample_rate):
            return [{"field": "params.format", "message": problem}]
        return []


@dataclass(frozen=True)
class Context:
    """What checking and planning a job may look at."""

    job_id: uuid.UUID
    owner: str
    correlation_id: uuid.UUID
    upload: Upload
    models: dict[str, ModelInfo]


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
