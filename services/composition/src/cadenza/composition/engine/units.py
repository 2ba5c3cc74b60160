"""Musical time inside the engine: integer units of a thirty-second note, 4/4 bars.

Integers keep durations exact (no float drift when phrases are compared or notes split);
seconds appear only when a piece is written out.
"""

from __future__ import annotations

import math

UNITS_PER_BEAT = 8  # a beat is a quarter note; a unit is a thirty-second note
BEATS_PER_BAR = 4
BAR_UNITS = UNITS_PER_BEAT * BEATS_PER_BAR
# The note values melodies are learnt and written in: sixteenth … whole, dotted ones included.
DURATIONS: tuple[int, ...] = (2, 4, 6, 8, 12, 16, 24, 32)
STRONG_BEATS: tuple[int, ...] = (0, 2 * UNITS_PER_BEAT)  # beats 1 and 3 of a 4/4 bar


def quantize_duration(units: float) -> int:
    """The nearest of DURATIONS on a log scale (a 5-unit gap is closer to 4 than to 6)."""
    if units <= DURATIONS[0]:
        return DURATIONS[0]
    return min(DURATIONS, key=lambda d: abs(math.log(units / d)))


def is_strong(onset_units: int) -> bool:
    """Whether an onset (units from a bar line) falls on beat 1 or 3."""
    return onset_units % BAR_UNITS in STRONG_BEATS


def beats(units: int) -> float:
    return units / UNITS_PER_BEAT
