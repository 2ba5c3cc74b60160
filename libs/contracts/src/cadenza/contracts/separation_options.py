"""How a separation runs beyond its model: demucs's test-time shifts and segment overlap.

`shifts`: the model runs that many times on the mix delayed by a random lead of silence (up
to half a second), the lead dropped from each output and the passes averaged (demucs's
`apply_model(shifts=…)`; its paper used 10). The leads come from `seed`, so a job separates
the same way every time (shifts apply to Demucs models and the classical method). `overlap`:
the share of each segment shared with the next; unset, the model's own (demucs's 0.25, a
RoFormer config's `num_overlap`); more overlap means more segments. Both multiply the work:
`work_factor` is how many times the work of one pass at 0.25 the job does, which its CPU
allowance scales by. The bounds keep that factor at most 30.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cadenza.contracts.stems import StemName

MAX_SHIFTS = 10
DEFAULT_OVERLAP = 0.25
MAX_OVERLAP = 0.75
MAX_SEED = 2**31 - 1
MAX_ENSEMBLE_MEMBERS = 4
# Long enough for an ensemble of four long names ("ensemble:a+b+c+d").
MAX_MODEL_NAME = 300


class SeparationOptions(BaseModel):
    shifts: int = Field(
        0,
        ge=0,
        le=MAX_SHIFTS,
        description="Test-time shifts: passes over the mix delayed by a random lead of up to "
        "half a second, averaged (0: one pass without a shift)",
    )
    overlap: float | None = Field(
        None,
        ge=0.0,
        le=MAX_OVERLAP,
        description="Share of each segment overlapping the next; unset, the model's own "
        "(0.25 for Demucs and the classical method, the config's num_overlap for RoFormer)",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Draws the shifts' leads")
    ensemble_weights: dict[str, dict[StemName, float]] | None = Field(
        None,
        max_length=MAX_ENSEMBLE_MEMBERS,
        description="For an ensemble ('ensemble:a+b'): weights per member and stem, 0 to 10 "
        '(1 when not given), e.g. {"htdemucs_ft": {"vocals": 0.5}}',
    )

    def options(self) -> dict[str, Any]:
        """These fields, to hand on from a request or step to the command that runs it."""
        return {
            "shifts": self.shifts,
            "overlap": self.overlap,
            "seed": self.seed,
            "ensemble_weights": self.ensemble_weights,
        }

    def overlap_or(self, model_default: float) -> float:
        return model_default if self.overlap is None else self.overlap

    def work_factor(self, model_default: float = DEFAULT_OVERLAP) -> float:
        """The work of this separation over one pass at demucs's default overlap."""
        passes = max(self.shifts, 1)
        return passes * (1.0 - DEFAULT_OVERLAP) / (1.0 - self.overlap_or(model_default))
