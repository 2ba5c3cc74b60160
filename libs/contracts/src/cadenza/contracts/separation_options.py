"""How a separation runs beyond its model: demucs's test-time shifts and segment overlap.

`shifts`: the model runs that many times on the mix delayed by a random lead of silence (up
to half a second), the lead dropped from each output and the passes averaged (demucs's
`apply_model(shifts=…)`; its paper used 10). The leads come from `seed`, so a job separates
the same way every time. `overlap`: the share of each segment shared with the next (0.25 is
demucs's default); more overlap means more segments. Both multiply the work: `work_factor`
is how many times the work of one pass at 0.25 the job does, which its CPU allowance scales
by. The bounds keep that factor at most 30.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_SHIFTS = 10
DEFAULT_OVERLAP = 0.25
MAX_OVERLAP = 0.75
MAX_SEED = 2**31 - 1


class SeparationOptions(BaseModel):
    shifts: int = Field(
        0,
        ge=0,
        le=MAX_SHIFTS,
        description="Test-time shifts: passes over the mix delayed by a random lead of up to "
        "half a second, averaged (0: one pass without a shift)",
    )
    overlap: float = Field(
        DEFAULT_OVERLAP,
        ge=0.0,
        le=MAX_OVERLAP,
        description="Share of each segment overlapping the next",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Draws the shifts' leads")

    def options(self) -> dict[str, Any]:
        """These fields, to hand on from a request or step to the command that runs it."""
        return {"shifts": self.shifts, "overlap": self.overlap, "seed": self.seed}

    @property
    def work_factor(self) -> float:
        """The work of this separation over one pass at the default overlap."""
        passes = max(self.shifts, 1)
        return passes * (1.0 - DEFAULT_OVERLAP) / (1.0 - self.overlap)
