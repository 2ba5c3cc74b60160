"""Events of the render domain: MIDI → audio, mixing stems, mastering.

One service (render) owns all three; each is its own command so that a pipeline can use
them as separate stages.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.pipeline import MasterParams, MixParams, PipelineCommand, RenderParams

RENDER_STAGE = "render"
MIX_STAGE = "mix"
MASTER_STAGE = "master"
MAX_STEMS = 32


class SoundFontInfo(BaseModel):
    """A SoundFont a render worker can use, as workers advertise it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=64)
    bytes: int = Field(ge=0)
    default: bool = False


class RenderRequested(PipelineCommand):
    """Command: render the MIDI `input` to `mix.<ext>` (and `<track>.<ext>` stems +
    `stems.zip` when `params.stems`)."""

    subject: ClassVar[str] = "render.requested"

    stage: str = RENDER_STAGE
    input: ArtifactRef
    params: RenderParams = RenderParams()


class RenderCompleted(StageCompleted):
    subject: ClassVar[str] = "render.completed"


class RenderFailed(StageFailed):
    subject: ClassVar[str] = "render.failed"


class MixRequested(PipelineCommand):
    """Command: mix the named `inputs` (stems) into `mix.<ext>`."""

    subject: ClassVar[str] = "render.mix.requested"

    stage: str = MIX_STAGE
    inputs: dict[str, ArtifactRef] = Field(min_length=1, max_length=MAX_STEMS)
    params: MixParams = MixParams()


class MixCompleted(StageCompleted):
    subject: ClassVar[str] = "render.mix.completed"


class MixFailed(StageFailed):
    subject: ClassVar[str] = "render.mix.failed"


class MasterRequested(PipelineCommand):
    """Command: master `input` to `mastered.<ext>`; `details` report the measured loudness
    (LUFS) and true peak (dBTP)."""

    subject: ClassVar[str] = "render.master.requested"

    stage: str = MASTER_STAGE
    input: ArtifactRef
    params: MasterParams = MasterParams()


class MasterCompleted(StageCompleted):
    """`details`: `preset`, `target_lufs` and `true_peak_ceiling_db` (what it aimed at);
    `input_lufs` and `input_true_peak_db` (the input as it came in: "before"); `lufs` and
    `true_peak_db` (the file as written, decoded back: "after"); `gain_db`."""

    subject: ClassVar[str] = "render.master.completed"


class MasterFailed(StageFailed):
    subject: ClassVar[str] = "render.master.failed"
