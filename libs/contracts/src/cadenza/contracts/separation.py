"""Events of the separation domain, and what a separation model is."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.pipeline import PipelineCommand
from cadenza.contracts.separation_options import MAX_MODEL_NAME, SeparationOptions
from cadenza.contracts.stems import STEM_NAMES as STEM_NAMES
from cadenza.contracts.stems import StemName as StemName

STAGE = "separation"

# Needs no weights: always available.
CLASSICAL_MODEL = "classical"

# demucs: Demucs bags and checkpoints; bs_roformer / mel_band_roformer: the band-split
# RoFormer family (a state-dict checkpoint plus its YAML config); ensemble: the mean of
# other models' stems; classical: no weights.
ModelFamily = Literal["demucs", "bs_roformer", "mel_band_roformer", "ensemble", "classical"]


class ModelInfo(BaseModel):
    """A separation model a worker can run, as workers advertise it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=MAX_MODEL_NAME)
    family: ModelFamily
    stems: tuple[StemName, ...]
    sample_rate: int
    description: str = ""
    # Identifies the weights (checksums of the checkpoint files), part of the cache key.
    fingerprint: str = ""
    # The share of a segment overlapping the next when a job does not say (a RoFormer
    # config's num_overlap); how much work a pass is depends on it.
    overlap: float = Field(0.25, ge=0.0, lt=1.0)
    # Compute per second of audio in passes of htdemucs (a bag of 4: 4; viperx's BS-RoFormer:
    # about 38): a job's CPU allowance scales by it.
    cost: float = Field(1.0, gt=0.0, le=10_000.0)


CLASSICAL_INFO = ModelInfo(
    name=CLASSICAL_MODEL,
    family="classical",
    stems=("drums", "bass", "other", "vocals"),
    sample_rate=0,  # works at the input's rate
    description=(
        "No trained weights: harmonic/percussive separation, a low band for bass and "
        "the stereo centre for vocals. Fast and always available; far below Demucs in quality"
    ),
    fingerprint="classical-1",
)


class SeparationRequested(PipelineCommand, SeparationOptions):
    """Command: split `input` into `stems` with `model`; each stem becomes `<stem>.<format>`
    (`shifts`, `overlap`, `seed`: how the model runs, `separation_options`)."""

    subject: ClassVar[str] = "separation.requested"

    stage: str = STAGE
    input: ArtifactRef
    model: str = Field(min_length=1, max_length=MAX_MODEL_NAME)
    stems: tuple[StemName, ...] = Field(min_length=1)
    output: OutputFormat = OutputFormat()


class SeparationCompleted(StageCompleted):
    subject: ClassVar[str] = "separation.completed"


class SeparationFailed(StageFailed):
    subject: ClassVar[str] = "separation.failed"
