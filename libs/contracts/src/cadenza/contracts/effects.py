"""Events of the effects domain."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from cadenza.contracts.artifacts import ARTIFACT_NAME_PATTERN, ArtifactRef
from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.effect_chain import EffectChain
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.pipeline import PipelineCommand

STAGE = "effects"


class EffectsRequested(PipelineCommand):
    """Command: run `chain` over `input` and store the result as `output_name`.`format`.

    In a pipeline it may instead take several named `inputs` (stems): each is processed
    with `chains[name]` (else `chain`) and stored as `<name>.<format>`; a stem with neither
    passes through unchanged (its output is the input artifact).
    """

    subject: ClassVar[str] = "effects.requested"

    stage: str = STAGE
    input: ArtifactRef | None = None
    inputs: dict[str, ArtifactRef] = Field(default_factory=dict, max_length=16)
    chain: EffectChain | None = None
    chains: dict[str, EffectChain] = Field(default_factory=dict, max_length=16)
    output: OutputFormat = OutputFormat()
    output_name: str = Field(default="processed", pattern=ARTIFACT_NAME_PATTERN)

    @model_validator(mode="after")
    def _one_kind_of_input(self) -> Self:
        if (self.input is None) == (not self.inputs):
            raise ValueError("give either one input or named inputs")
        if self.input is not None and self.chain is None:
            raise ValueError("a single input needs a chain")
        return self

    @property
    def output_filename(self) -> str:
        return self.output_name_for(self.output_name)

    def output_name_for(self, name: str) -> str:
        return self.prefixed(f"{name}.{self.output.extension}")

    def work_items(self) -> list[tuple[str, ArtifactRef, EffectChain | None]]:
        """(output file name, input, chain or None: pass through) for each input, in a
        stable order."""
        if self.input is not None:
            return [(self.output_filename, self.input, self.chain)]
        return [
            (self.output_name_for(name), ref, self.chains.get(name, self.chain))
            for name, ref in sorted(self.inputs.items())
        ]


class EffectsCompleted(StageCompleted):
    subject: ClassVar[str] = "effects.completed"


class EffectsFailed(StageFailed):
    subject: ClassVar[str] = "effects.failed"
