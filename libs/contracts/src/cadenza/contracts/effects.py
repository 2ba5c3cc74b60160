"""Events of the effects domain."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from cadenza.contracts.artifacts import ARTIFACT_NAME_PATTERN, ArtifactRef
from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.effect_chain import EffectChain
from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import StageCompleted, StageFailed

STAGE = "effects"


class EffectsRequested(Event):
    """Command: run `chain` over `input` and store the result as `output_name`.`format`."""

    subject: ClassVar[str] = "effects.requested"

    input: ArtifactRef
    chain: EffectChain
    output: OutputFormat = OutputFormat()
    output_name: str = Field(default="processed", pattern=ARTIFACT_NAME_PATTERN)

    @property
    def output_filename(self) -> str:
        return f"{self.output_name}.{self.output.extension}"


class EffectsCompleted(StageCompleted):
    subject: ClassVar[str] = "effects.completed"


class EffectsFailed(StageFailed):
    subject: ClassVar[str] = "effects.failed"
