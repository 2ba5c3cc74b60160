"""Musical time from clock time: seconds to quarter notes (MIDI's beat, whatever the meter)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def quarter_clock(times: np.ndarray, tempi: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function from seconds to quarter notes since the start, following a tempo map: the
    times (seconds, ascending, the first 0) at which each tempo (BPM) starts, as pretty_midi's
    `get_tempo_changes()` gives them. Before the first change the first tempo holds."""
    times = np.asarray(times, dtype=np.float64)
    tempi = np.asarray(tempi, dtype=np.float64)
    quarters_at = np.concatenate([[0.0], np.cumsum(np.diff(times) * tempi[:-1] / 60.0)])

    def position(t: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
        return np.asarray(quarters_at[i] + (t - times[i]) * tempi[i] / 60.0)

    return position
