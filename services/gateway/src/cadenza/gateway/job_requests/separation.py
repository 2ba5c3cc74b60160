"""`{"kind": "separation", ...}`: split an upload into stems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field

from cadenza.contracts.envelope import Event
from cadenza.contracts.separation import (
    CLASSICAL_MODEL,
    STAGE,
    ModelInfo,
    SeparationRequested,
    StemName,
)
from cadenza.contracts.separation_options import SeparationOptions
from cadenza.gateway.job_requests.common import (
    Context,
    JobRequestBase,
    OutputParams,
    Problem,
    UploadInput,
    input_ref,
)

DEFAULT_MODELS = ("htdemucs", CLASSICAL_MODEL)
MAX_CHANNELS = 2


class SeparationParams(OutputParams, SeparationOptions):
    """The model, its stems, the output and how the model runs (`shifts`, `overlap`,
    `seed`: `cadenza.contracts.separation_options`)."""

    model: str | None = Field(
        None,
        max_length=64,
        description="A name from GET /api/v1/models; default htdemucs when available, "
        "else the classical method",
    )
    stems: list[StemName] | None = Field(
        None, min_length=1, description="Which stems to keep; default all the model has"
    )


def default_model(models: Mapping[str, ModelInfo]) -> str:
    return next((name for name in DEFAULT_MODELS if name in models), CLASSICAL_MODEL)


class SeparationJobRequest(JobRequestBase):
    kind: Literal["separation"]
    input: UploadInput
    params: SeparationParams = SeparationParams()

    stages: ClassVar[tuple[str, ...]] = (STAGE,)
    OUTPUT_PARAM: ClassVar[str] = "format"

    def problems(self, context: Context) -> list[Problem]:
        found: list[Problem] = []
        if context.require_upload().channels > MAX_CHANNELS:
            found.append(
                {
                    "field": "input.upload_id",
                    "message": "separation takes mono or stereo audio; this upload has "
                    f"{context.require_upload().channels} channels",
                }
            )
        name = self.params.model or default_model(context.models)
        model = context.models.get(name)
        if model is None:
            found.append(
                {
                    "field": "params.model",
                    "message": f"unknown or unavailable model {name!r}; available: "
                    + ", ".join(sorted(context.models)),
                }
            )
        elif self.params.stems:
            unknown = [s for s in self.params.stems if s not in model.stems]
            if unknown:
                found.append(
                    {
                        "field": "params.stems",
                        "message": f"model {name} has no {', '.join(unknown)} stem; it has "
                        + ", ".join(model.stems),
                    }
                )
        return found + self.params.format_problems(context.upload)

    def resolved_params(self, context: Context) -> SeparationParams:
        """The parameters with defaults filled in, as recorded on the job."""
        name = self.params.model or default_model(context.models)
        stems = self.params.stems or list(context.models[name].stems)
        return self.params.model_copy(update={"model": name, "stems": list(dict.fromkeys(stems))})

    def commands(self, cause: Event, context: Context) -> list[Event]:
        params = self.resolved_params(context)
        assert params.model is not None and params.stems is not None
        return [
            SeparationRequested.caused_by(
                cause,
                input=input_ref(context.require_upload()),
                model=params.model,
                stems=tuple(params.stems),
                output=params.output(),
                **params.options(),
            )
        ]
