"""Pipelines as routing slips: a command carries the steps that follow it.

A job with several stages (blend → render → master; separation → effects → mix → master)
has no orchestrator. Its first command carries `slip`, the remaining steps; the service
that finishes a step publishes its fact with `job_finished=False` and then the next step's
command, built from its outputs (`cadenza.contracts.routing`), with the rest of the slip.
Every step is its own stage of the job, with its own progress.

This module holds what a slip is made of; it imports no domain's commands (they import it).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.effect_chain import EffectChain
from cadenza.contracts.envelope import Event
from cadenza.contracts.limits import JobLimits
from cadenza.contracts.separation_options import MAX_MODEL_NAME, SeparationOptions
from cadenza.contracts.stems import StemName

# A stage's name: what the job's `stages` list and progress events call it.
STAGE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
# Outputs of a step that is not the last get this prefix so that stages never overwrite
# each other's artifacts ("separation-vocals.wav", then "effects-vocals.wav").
OUTPUT_PREFIX_PATTERN = r"^([a-z][a-z0-9_-]{0,31}-)?$"

# Loudness presets: (integrated loudness target in LUFS, true-peak ceiling in dBTP).
MASTER_PRESETS: dict[str, tuple[float, float]] = {
    "streaming": (-14.0, -1.0),
    "apple": (-16.0, -1.0),
    # EBU R128: −23 LUFS, true peak at most −1 dBTP.
    "broadcast": (-23.0, -1.0),
}
MIN_TARGET_LUFS, MAX_TARGET_LUFS = -36.0, -6.0
MIN_CEILING_DB, MAX_CEILING_DB = -9.0, 0.0
# A blend's audio preview: its first seconds, rendered where the job renders nothing else.
PREVIEW_STAGE = "preview"
PREVIEW_SECONDS = 30.0
MIN_PREVIEW_SECONDS, MAX_PREVIEW_SECONDS = 5.0, 120.0


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class RenderParams(Strict):
    """MIDI → audio with FluidSynth."""

    # _preview_without_stems, stated in the schema: a preview needs stems set to false.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "required": ["preview_seconds"],
                "properties": {"preview_seconds": {"type": "number"}},
            },
            "then": {"required": ["stems"], "properties": {"stems": {"const": False}}},
        }
    )

    soundfont: str | None = Field(
        None,
        max_length=64,
        description="A name from GET /api/v1/soundfonts; default the bundled one",
    )
    sample_rate: Literal[22050, 32000, 44100, 48000] = 44100
    stems: bool = Field(True, description="Also write one stem per track (and stems.zip)")
    output: OutputFormat = OutputFormat()
    preview_seconds: float | None = Field(
        None,
        ge=MIN_PREVIEW_SECONDS,
        le=MAX_PREVIEW_SECONDS,
        description="Render only the piece's first seconds (its notes released there) to"
        " preview.<ext>, without stems",
    )

    @model_validator(mode="after")
    def _preview_without_stems(self) -> Self:
        if self.preview_seconds is not None and self.stems:
            raise ValueError("a preview has no stems; set stems to false")
        return self

    @classmethod
    def preview(cls) -> RenderParams:
        """What a blend's preview stage renders: 30 s of mp3 with the default SoundFont."""
        return cls(
            stems=False,
            output=OutputFormat(format="mp3", quality=0.6),
            preview_seconds=PREVIEW_SECONDS,
        )


class MixParams(Strict):
    """Several stems → one stereo mix."""

    gains_db: dict[StemName | str, float] = Field(
        default_factory=dict, description="Per stem, −60..+12 dB (default 0)"
    )
    pans: dict[StemName | str, float] = Field(
        default_factory=dict, description="Per stem, −1 (left) .. 1 (right), default 0"
    )
    output: OutputFormat = OutputFormat()


class MasterParams(Strict):
    """EQ, compression, loudness normalisation and a true-peak ceiling."""

    preset: Literal["streaming", "apple", "broadcast"] = "streaming"
    target_lufs: float | None = Field(
        None,
        ge=MIN_TARGET_LUFS,
        le=MAX_TARGET_LUFS,
        description="Integrated loudness (ITU-R BS.1770), overrides the preset's",
    )
    true_peak_db: float | None = Field(
        None,
        ge=MIN_CEILING_DB,
        le=MAX_CEILING_DB,
        description="True-peak ceiling in dBTP, overrides the preset's",
    )
    eq: bool = True
    compress: bool = True
    output: OutputFormat = OutputFormat()

    @property
    def target(self) -> tuple[float, float]:
        lufs, ceiling = MASTER_PRESETS[self.preset]
        return (
            lufs if self.target_lufs is None else self.target_lufs,
            ceiling if self.true_peak_db is None else self.true_peak_db,
        )


class EffectsStepParams(Strict):
    """One chain for every input, or a chain per stem (stems without one pass unchanged)."""

    chain: EffectChain | None = None
    chains: dict[StemName | str, EffectChain] = Field(default_factory=dict, max_length=16)
    output: OutputFormat = OutputFormat()

    @model_validator(mode="after")
    def _some_chain(self) -> Self:
        if self.chain is None and not self.chains:
            raise ValueError("give a chain for every input, or chains per stem")
        return self


class SeparationStepParams(Strict, SeparationOptions):
    model: str = Field(min_length=1, max_length=MAX_MODEL_NAME)
    stems: tuple[StemName, ...] = Field(min_length=1)
    output: OutputFormat = OutputFormat()


class StepBase(Strict):
    stage: str = Field(pattern=STAGE_NAME_PATTERN)


class SeparationStep(StepBase):
    kind: Literal["separation"] = "separation"
    params: SeparationStepParams


class EffectsStep(StepBase):
    kind: Literal["effects"] = "effects"
    params: EffectsStepParams


class MixStep(StepBase):
    kind: Literal["mix"] = "mix"
    params: MixParams = MixParams()


class RenderStep(StepBase):
    kind: Literal["render"] = "render"
    params: RenderParams = RenderParams()


class MasterStep(StepBase):
    kind: Literal["master"] = "master"
    params: MasterParams = MasterParams()


PipelineStep = Annotated[
    SeparationStep | EffectsStep | MixStep | RenderStep | MasterStep,
    Field(discriminator="kind"),
]

# What each kind of step takes and gives: "midi", "audio" (one file) or "stems" (several).
# A render gives both a mix and stems: the next step takes whichever it needs.
STEP_INPUT: dict[str, frozenset[str]] = {
    "blend": frozenset(),
    "render": frozenset({"midi"}),
    "separation": frozenset({"audio"}),
    "effects": frozenset({"audio", "stems"}),
    "mix": frozenset({"stems"}),
    "master": frozenset({"audio"}),
}
STEP_OUTPUT: dict[str, frozenset[str]] = {
    "blend": frozenset({"midi"}),
    "render": frozenset({"audio", "stems"}),
    "separation": frozenset({"stems"}),
    "mix": frozenset({"audio"}),
    "master": frozenset({"audio"}),
}


def chain_problems(kinds: list[str], first_input: str | None) -> list[str]:
    """Why this order of steps cannot work ([] when it can): each step must take what the
    one before it gives."""
    problems: list[str] = []
    given = frozenset({first_input}) if first_input else frozenset()
    for i, kind in enumerate(kinds):
        accepts = STEP_INPUT[kind]
        if kind == "blend" and i > 0:
            problems.append(f"step {i + 1}: blend can only be the first step")
        elif accepts and not accepts & given:
            source = "the input" if i == 0 else f"step {i} ({kinds[i - 1]})"
            problems.append(
                f"step {i + 1} ({kind}) takes {' or '.join(sorted(accepts))}, but {source}"
                f" gives {' or '.join(sorted(given)) or 'nothing'}"
            )
        # effects keeps the shape of what it was given (a render: the stems).
        if kind == "effects":
            given = frozenset({"stems"}) if "stems" in given else given
        else:
            given = STEP_OUTPUT[kind]
    return problems


def kinds_after(kind: str) -> tuple[str, ...]:
    """The kinds of step that may follow a step of `kind` in some pipeline."""
    shapes = (None, "midi", "audio", "stems")
    return tuple(
        then
        for then in STEP_INPUT
        if any(not chain_problems([kind, then], shape) for shape in shapes)
    )


class PipelineCommand(Event):
    """A command that may be one step of a pipeline."""

    # The stage this command's progress and facts belong to.
    stage: str = Field(pattern=STAGE_NAME_PATTERN)
    # The steps after this one, in order (empty: this step finishes the job).
    slip: tuple[PipelineStep, ...] = ()
    # Put before every output's name (steps that are not the last one of a pipeline).
    output_prefix: str = Field(default="", pattern=OUTPUT_PREFIX_PATTERN)
    # What the job may spend, set by the gateway; every step of a pipeline carries it on.
    limits: JobLimits = JobLimits()

    def prefixed(self, name: str) -> str:
        return f"{self.output_prefix}{name}"
