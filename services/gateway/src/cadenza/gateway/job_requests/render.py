"""`{"kind": "render", ...}` (MIDI → audio) and `{"kind": "master", ...}` (loudness)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from cadenza.contracts.envelope import Event
from cadenza.contracts.pipeline import MasterParams, RenderParams
from cadenza.contracts.render import (
    MASTER_STAGE,
    RENDER_STAGE,
    MasterRequested,
    RenderRequested,
)
from cadenza.gateway.job_requests.common import (
    Context,
    JobArtifactInput,
    JobRequestBase,
    Problem,
    SongInput,
    UploadInput,
)


def input_problems(context: Context, wanted: str) -> list[Problem]:
    if context.input_kind != wanted:
        return [
            {
                "field": "input",
                "message": f"this job takes {wanted}; the input given is "
                f"{context.input_kind or 'missing'}",
            }
        ]
    return []


def output_problems(output: Any, sample_rate: int | None, field: str) -> list[Problem]:
    if sample_rate and (problem := output.sample_rate_problem(sample_rate)):
        return [{"field": field, "message": problem}]
    return []


class RenderJobRequest(JobRequestBase):
    kind: Literal["render"]
    input: SongInput | JobArtifactInput
    params: RenderParams = RenderParams()

    stages: ClassVar[tuple[str, ...]] = (RENDER_STAGE,)

    def problems(self, context: Context) -> list[Problem]:
        return input_problems(context, "midi") + output_problems(
            self.params.output, self.params.sample_rate, "params.output.format"
        )

    def resolved_params(self, context: Context) -> dict[str, Any]:
        return self.params.model_dump(mode="json", exclude_none=True)

    def commands(self, cause: Event, context: Context) -> list[Event]:
        assert context.source is not None
        return [RenderRequested.caused_by(cause, input=context.source, params=self.params)]


class MasterJobRequest(JobRequestBase):
    kind: Literal["master"]
    input: UploadInput | JobArtifactInput
    params: MasterParams = MasterParams()

    stages: ClassVar[tuple[str, ...]] = (MASTER_STAGE,)

    def problems(self, context: Context) -> list[Problem]:
        found = input_problems(context, "audio")
        if context.source is not None:
            found += output_problems(
                self.params.output, context.source.sample_rate, "params.output.format"
            )
        return found

    def resolved_params(self, context: Context) -> dict[str, Any]:
        lufs, ceiling = self.params.target
        return {
            **self.params.model_dump(mode="json", exclude_none=True),
            "target_lufs": lufs,
            "true_peak_db": ceiling,
        }

    def commands(self, cause: Event, context: Context) -> list[Event]:
        assert context.source is not None
        return [MasterRequested.caused_by(cause, input=context.source, params=self.params)]
