"""What clients send to POST /api/v1/jobs, and how a request becomes its first events."""

from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.audio_format import AudioFormatName, OutputFormat
from cadenza.contracts.effect_chain import EffectChain, nyquist_violations
from cadenza.contracts.effects import STAGE as EFFECTS_STAGE
from cadenza.contracts.effects import EffectsRequested
from cadenza.contracts.envelope import Event, derive_id
from cadenza.contracts.jobs import JobSubmitted
from cadenza.gateway.repository import Upload

# Job ids from an Idempotency-Key are uuid5(owner/key) in this namespace.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1d55-3bfa-4f0c-9d7e-0a6f7f0c2a11")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class UploadInput(Strict):
    upload_id: uuid.UUID


class EffectsParams(Strict):
    chain: EffectChain
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


class EffectsJobRequest(Strict):
    kind: Literal["effects"]
    input: UploadInput
    params: EffectsParams

    def problems(self, upload: Upload) -> list[dict[str, str]]:
        """Checks that need the input: frequencies below Nyquist, formats that fit the rate."""
        found = [
            {"field": f"params.{p.split(':', 1)[0]}", "message": p.split(": ", 1)[1]}
            for p in nyquist_violations(self.params.chain, upload.sample_rate)
        ]
        if problem := self.params.output().sample_rate_problem(upload.sample_rate):
            found.append({"field": "params.format", "message": problem})
        return found

    def events(
        self, *, job_id: uuid.UUID, owner: str, correlation_id: uuid.UUID, upload: Upload
    ) -> tuple[JobSubmitted, list[Event]]:
        submitted = JobSubmitted(
            event_id=derive_id(job_id, JobSubmitted.subject),
            job_id=job_id,
            owner=owner,
            correlation_id=correlation_id,
            kind=self.kind,
            input=self.input.model_dump(mode="json"),
            params=self.params.model_dump(mode="json"),
            stages=[EFFECTS_STAGE],
        )
        command = EffectsRequested.caused_by(
            submitted,
            input=ArtifactRef(
                uri=upload.uri,
                media_type=upload.media_type,
                bytes=upload.bytes,
                sha256=upload.sha256,
                duration_s=upload.duration_s,
                sample_rate=upload.sample_rate,
                channels=upload.channels,
            ),
            chain=self.params.chain,
            output=self.params.output(),
        )
        return submitted, [command]


JobRequest = EffectsJobRequest
