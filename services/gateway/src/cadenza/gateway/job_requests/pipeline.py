"""`{"kind": "pipeline", ...}`: several stages across services, chained by a routing slip.

Either a preset (`full-song`: blend → render → master; `remix`: separation → effects per
stem → mix → master) with `params` per step kind, or explicit `steps`. The gateway checks
that each step takes what the one before gives, publishes the first step's command with
the rest of the steps as its slip, and every step shows up as its own stage.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cadenza.contracts.effects import EffectsRequested
from cadenza.contracts.envelope import Event
from cadenza.contracts.pipeline import (
    PREVIEW_STAGE,
    STAGE_NAME_PATTERN,
    EffectsStep,
    EffectsStepParams,
    MasterParams,
    MasterStep,
    MixParams,
    MixStep,
    PipelineStep,
    RenderParams,
    RenderStep,
    SeparationStep,
    SeparationStepParams,
    chain_problems,
)
from cadenza.contracts.render import MasterRequested, MixRequested, RenderRequested
from cadenza.contracts.separation import SeparationRequested
from cadenza.gateway.errors import validation_errors
from cadenza.gateway.job_requests.blend import (
    BlendParams,
    blend_command,
    preview_step,
    song_count_problems,
)
from cadenza.gateway.job_requests.common import (
    Context,
    JobArtifactInput,
    JobRequestBase,
    Problem,
    SongInput,
    Strict,
    UploadInput,
)
from cadenza.gateway.job_requests.separation import (
    SeparationParams,
    separation_model,
    separation_problems,
)

StepKind = Literal["blend", "separation", "effects", "mix", "render", "master"]
MAX_STEPS = 8

PRESETS: dict[str, tuple[StepKind, ...]] = {
    "full-song": ("blend", "render", "master"),
    "remix": ("separation", "effects", "mix", "master"),
}

# A remix with no effects given: a little glue on drums, air and space on vocals.
DEFAULT_REMIX_EFFECTS: dict[str, Any] = {
    "chains": {
        "drums": [{"type": "compressor", "threshold_db": -18, "ratio": 3}],
        "vocals": [
            {"type": "compressor", "threshold_db": -20, "ratio": 2.5},
            {"type": "reverb", "room_size": 0.35, "wet_level": 0.18},
        ],
    }
}

PARAM_MODELS: dict[str, type[BaseModel]] = {
    "blend": BlendParams,
    "separation": SeparationParams,
    "effects": EffectsStepParams,
    "mix": MixParams,
    "render": RenderParams,
    "master": MasterParams,
}


class StepRequest(Strict):
    kind: StepKind
    stage: str | None = Field(
        None, pattern=STAGE_NAME_PATTERN, description="The stage's name; default the kind"
    )
    params: dict[str, Any] = Field(default_factory=dict)


class PipelineJobRequest(JobRequestBase):
    # _preset_or_steps, stated in the schema: exactly one of them (if/then/else rather than
    # oneOf, which client generators read as a union of types).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"required": ["preset"], "properties": {"preset": {"type": "string"}}},
            "then": {"not": {"required": ["steps"], "properties": {"steps": {"type": "array"}}}},
            "else": {"required": ["steps"], "properties": {"steps": {"type": "array"}}},
        }
    )

    kind: Literal["pipeline"]
    preset: Literal["full-song", "remix"] | None = None
    steps: list[StepRequest] | None = Field(None, min_length=1, max_length=MAX_STEPS)
    input: UploadInput | JobArtifactInput | SongInput | None = None
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="With a preset: the blend's parameters (songs, length, key…) at the top "
        "level, and each other step's under its kind, e.g. {'master': {'preset': 'apple'}}",
    )

    @model_validator(mode="after")
    def _preset_or_steps(self) -> Self:
        if (self.preset is None) == (self.steps is None):
            raise ValueError("give a preset or steps, not both")
        return self

    # ---- expansion --------------------------------------------------------------------

    def step_requests(self) -> list[StepRequest]:
        if self.steps is not None:
            return self.steps
        assert self.preset is not None
        kinds = PRESETS[self.preset]
        nested = {kind: self.params.get(kind) for kind in kinds if kind != "blend"}
        top = {k: v for k, v in self.params.items() if k not in kinds}
        steps = []
        for kind in kinds:
            if kind == "blend":
                params = top
            else:
                given = nested.get(kind)
                params = given if isinstance(given, dict) else {}
                if kind == "effects" and not params:
                    params = DEFAULT_REMIX_EFFECTS
            steps.append(StepRequest(kind=kind, params=params))
        return steps

    def budget_field(self, stage: int, param: str) -> str:
        typed, _ = self.typed_steps()
        kind = typed[stage][0] if stage < len(typed) else ""
        if param == "output":
            param = "format" if kind == "separation" else "output"
        return f"{self._fields(stage)}.{param}"

    def _fields(self, index: int) -> str:
        if self.steps is not None:
            return f"steps.{index}.params"
        kind = self.step_requests()[index].kind
        return "params" if kind == "blend" else f"params.{kind}"

    def typed_steps(self) -> tuple[list[tuple[str, str, Any]], list[Problem]]:
        """[(kind, stage, typed params)] and the problems found on the way."""
        problems: list[Problem] = []
        typed: list[tuple[str, str, Any]] = []
        seen: dict[str, int] = {}
        for index, step in enumerate(self.step_requests()):
            name = step.stage or step.kind
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                if step.stage:
                    problems.append(
                        {"field": f"steps.{index}.stage", "message": f"stage {name!r} twice"}
                    )
                name = f"{name}-{seen[name]}"
            try:
                params = PARAM_MODELS[step.kind].model_validate(step.params)
            except ValidationError as e:
                for p in validation_errors(e.errors()):
                    field = self._fields(index)
                    problems.append(
                        {"field": f"{field}.{p['field']}".removesuffix(".body"), **_msg(p)}
                    )
                continue
            typed.append((step.kind, name, params))
        return typed, problems

    # ---- the job interface ------------------------------------------------------------

    @property
    def stages(self) -> tuple[str, ...]:
        typed, _ = self.typed_steps()
        names = tuple(name for _, name, _ in typed)
        return (*names, PREVIEW_STAGE) if self._previewed(typed) else names

    @staticmethod
    def _previewed(typed: list[tuple[str, str, Any]]) -> bool:
        """A blend that nothing renders gets a preview stage (as a blend job does)."""
        return [kind for kind, _, _ in typed] == ["blend"] and typed[0][2].preview

    def songs_to_resolve(self) -> tuple[str, list[str]] | None:
        typed, _ = self.typed_steps()
        for index, (kind, _, params) in enumerate(typed):
            if kind == "blend":
                return f"{self._fields(index)}.songs", params.songs
        return None

    def problems(self, context: Context) -> list[Problem]:
        typed, problems = self.typed_steps()
        if problems:
            return problems
        kinds = [kind for kind, _, _ in typed]
        if kinds[0] == "mix":
            return [{"field": "steps", "message": "a pipeline cannot start with mix"}]
        if kinds[0] != "blend" and self.input is None:
            message = f"a pipeline starting with {kinds[0]} needs an input"
            return [{"field": "input", "message": message}]
        if kinds[0] == "blend" and self.input is not None:
            return [{"field": "input", "message": "a pipeline starting with blend takes no input"}]
        if kinds[0] == "effects" and typed[0][2].chain is None:
            problems.append(
                {"field": self._fields(0), "message": "a first effects step needs a chain"}
            )
        if self._previewed(typed) and typed[0][1] == PREVIEW_STAGE:
            message = f"stage {PREVIEW_STAGE!r} is the blend's audio preview; name it otherwise"
            problems.append({"field": "steps.0.stage", "message": message})
        for message in chain_problems(kinds, context.input_kind):
            problems.append({"field": "steps" if self.steps else "preset", "message": message})
        for index, (kind, _, params) in enumerate(typed):
            if kind == "blend":
                problems += song_count_problems(params.songs, f"{self._fields(index)}.songs")
            if kind == "separation":
                problems += separation_problems(params, context, self._fields(index))
        return problems

    def resolved_params(self, context: Context) -> dict[str, Any]:
        typed, _ = self.typed_steps()
        steps = []
        for kind, name, params in typed:
            dumped = params.model_dump(mode="json", exclude_none=True)
            if kind == "blend":
                dumped["songs"] = [str(song.song_id) for song in context.songs]
            if kind == "separation":
                dumped.update(self._separation(params, context).model_dump(mode="json"))
            steps.append({"kind": kind, "stage": name, "params": dumped})
        return {"preset": self.preset, "steps": steps}

    @staticmethod
    def _separation(params: SeparationParams, context: Context) -> SeparationStepParams:
        model = separation_model(params, context)
        stems = params.stems or list(model.stems)
        return SeparationStepParams(
            model=model.name,
            stems=tuple(dict.fromkeys(stems)),
            output=params.output(),
            **params.options(),
        )

    def _slip_step(self, kind: str, name: str, params: Any, context: Context) -> PipelineStep:
        match kind:
            case "separation":
                return SeparationStep(stage=name, params=self._separation(params, context))
            case "effects":
                return EffectsStep(stage=name, params=params)
            case "mix":
                return MixStep(stage=name, params=params)
            case "render":
                return RenderStep(stage=name, params=params)
            case "master":
                return MasterStep(stage=name, params=params)
        raise ValueError(f"{kind} cannot follow another step")

    def commands(self, cause: Event, context: Context) -> list[Event]:
        typed, _ = self.typed_steps()
        (kind, name, params), rest = typed[0], typed[1:]
        step: dict[str, Any] = {
            "stage": name,
            "slip": tuple(self._slip_step(k, n, p, context) for k, n, p in rest),
            "output_prefix": f"{name}-" if rest else "",
        }
        source = context.source
        match kind:
            case "blend":
                if self._previewed(typed):
                    step["slip"] = (*step["slip"], preview_step())
                return [blend_command(cause, context, params.settings(), **step)]
            case "separation":
                assert source is not None
                sep = self._separation(params, context)
                return [
                    SeparationRequested.caused_by(
                        cause,
                        input=source,
                        model=sep.model,
                        stems=sep.stems,
                        output=sep.output,
                        **sep.options(),
                        **step,
                    )
                ]
            case "effects":
                assert source is not None and params.chain is not None
                return [
                    EffectsRequested.caused_by(
                        cause, input=source, chain=params.chain, output=params.output, **step
                    )
                ]
            case "render":
                assert source is not None
                return [RenderRequested.caused_by(cause, input=source, params=params, **step)]
            case "master":
                assert source is not None
                return [MasterRequested.caused_by(cause, input=source, params=params, **step)]
            case "mix":
                return [MixRequested.caused_by(cause, inputs={"input": source}, params=params)]
        raise AssertionError(kind)


def _msg(problem: Problem) -> dict[str, str]:
    return {"message": problem["message"]}
