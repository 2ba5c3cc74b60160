"""`{"kind": "effects", ...}`: an effect chain over an upload."""

from __future__ import annotations

from typing import ClassVar, Literal

from cadenza.contracts.effect_chain import EffectChain, nyquist_violations
from cadenza.contracts.effects import STAGE, EffectsRequested
from cadenza.contracts.envelope import Event
from cadenza.gateway.job_requests.common import (
    Context,
    JobRequestBase,
    OutputParams,
    Problem,
    UploadInput,
    input_ref,
)


class EffectsParams(OutputParams):
    chain: EffectChain


class EffectsJobRequest(JobRequestBase):
    kind: Literal["effects"]
    input: UploadInput
    params: EffectsParams

    stages: ClassVar[tuple[str, ...]] = (STAGE,)
    OUTPUT_PARAM: ClassVar[str] = "format"

    def problems(self, context: Context) -> list[Problem]:
        found = [
            {"field": f"params.{p.split(':', 1)[0]}", "message": p.split(": ", 1)[1]}
            for p in nyquist_violations(self.params.chain, context.require_upload().sample_rate)
        ]
        return found + self.params.format_problems(context.upload)

    def resolved_params(self, context: Context) -> EffectsParams:
        return self.params

    def commands(self, cause: Event, context: Context) -> list[Event]:
        return [
            EffectsRequested.caused_by(
                cause,
                input=input_ref(context.require_upload()),
                chain=self.params.chain,
                output=self.params.output(),
            )
        ]
