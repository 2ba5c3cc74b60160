"""`{"kind": "separation", ...}`: split an upload into stems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field

from cadenza.contracts.ensembles import (
    MAX_WORK,
    SHIFTING_FAMILIES,
    ModelResolutionError,
    member_infos,
    resolve_model,
    work_factor,
)
from cadenza.contracts.envelope import Event
from cadenza.contracts.separation import (
    CLASSICAL_MODEL,
    STAGE,
    ModelInfo,
    SeparationRequested,
    StemName,
)
from cadenza.contracts.separation_options import MAX_MODEL_NAME, SeparationOptions
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
        max_length=MAX_MODEL_NAME,
        description="A name from GET /api/v1/models, or an ensemble of 2 to 4 of them "
        "('ensemble:htdemucs_ft+bs_roformer_vocals': their stems averaged); default htdemucs "
        "when available, else the classical method",
    )
    stems: list[StemName] | None = Field(
        None, min_length=1, description="Which stems to keep; default all the model has"
    )


def default_model(models: Mapping[str, ModelInfo]) -> str:
    return next((name for name in DEFAULT_MODELS if name in models), CLASSICAL_MODEL)


def separation_model(params: SeparationParams, context: Context) -> ModelInfo:
    """The model the parameters name (ModelResolutionError when they name none)."""
    name = params.model or default_model(context.models)
    return resolve_model(name, context.models, params.ensemble_weights)


def separation_problems(params: SeparationParams, context: Context, field: str) -> list[Problem]:
    """What is wrong with a separation's model, stems and shifts; `field` is where the
    parameters are in the request (`params`, `steps.1.params`)."""
    try:
        model = separation_model(params, context)
    except ModelResolutionError as e:
        wrong = "ensemble_weights" if params.ensemble_weights else "model"
        return [{"field": f"{field}.{wrong}", "message": str(e)}]
    found: list[Problem] = []
    if params.stems:
        unknown = [s for s in params.stems if s not in model.stems]
        if unknown:
            found.append(
                {
                    "field": f"{field}.stems",
                    "message": f"model {model.name} has no {', '.join(unknown)} stem; it has "
                    + ", ".join(model.stems),
                }
            )
    families = {info.family for info in member_infos(model, context.models)}
    if params.shifts and not families & set(SHIFTING_FAMILIES):
        found.append(
            {
                "field": f"{field}.shifts",
                "message": f"shifts apply to Demucs models and the classical method; "
                f"{model.name} is a {model.family} model (set shifts to 0)",
            }
        )
    work = work_factor(model, context.models, params)
    if work > MAX_WORK:
        found.append(
            {
                "field": f"{field}.shifts" if params.shifts else f"{field}.overlap",
                "message": f"this separation would do the work of {work:.0f} passes of a model; "
                f"at most {MAX_WORK:.0f} (fewer shifts, less overlap or fewer models)",
            }
        )
    return found


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
        found += separation_problems(self.params, context, "params")
        return found + self.params.format_problems(context.upload)

    def resolved_params(self, context: Context) -> SeparationParams:
        """The parameters with defaults filled in, as recorded on the job."""
        model = separation_model(self.params, context)
        stems = self.params.stems or list(model.stems)
        return self.params.model_copy(
            update={"model": model.name, "stems": list(dict.fromkeys(stems))}
        )

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
