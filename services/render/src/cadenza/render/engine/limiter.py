"""A look-ahead true-peak limiter, computed as a gain curve with array operations.

It works from the true-peak envelope (per sample, the largest 4× oversampled |value|
up to the next sample, over all channels), so the ceiling holds between samples too,
not only at them as a sample-peak limiter (pedalboard's) would.

- Required reduction, per sample: r[n] = max(0, 20·log10(envelope[n] / ceiling)) dB.
- Attack: r is held over the W samples ahead (a running maximum), then averaged over
  the W samples behind. The reduction starts to ramp in 2W samples before a peak and
  is complete on it: around a peak p the average is of W values each ≥ r[p].
- Release: the reduction then decays exponentially (time constant RELEASE_S), unless
  a new peak needs more: R[n] = max over k ≤ n of S[k]·a^(n−k). In logarithms that is
  ln R[n] = cummax(ln S[k] − k·ln a) + n·ln a: a running maximum, not a Python loop
  per sample.

Chunks come in order; each brings `context` samples of envelope either side, and the
release state carries over from one chunk to the next.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

ATTACK_S = 0.0015  # the ramp in takes twice this: 3 ms
RELEASE_S = 0.08


class TruePeakLimiter:
    def __init__(self, sample_rate: int, ceiling: float) -> None:
        """`ceiling` is linear (not dB): the true peak the output may reach."""
        self.ceiling = ceiling
        self.window = max(1, round(ATTACK_S * sample_rate))
        self.context = 2 * self.window
        self._log_decay = -1.0 / (RELEASE_S * sample_rate)  # ln a, per sample
        self._carry = 0.0  # reduction in dB at the previous chunk's last sample

    def gain(self, envelope: np.ndarray, offset: int, frames: int) -> np.ndarray:
        """Linear gain for `frames` samples starting at `offset` in `envelope`, which
        holds up to `context` more samples either side (fewer only at the ends)."""
        # ln of the release decay from the previous chunk's last sample to each sample.
        decay = self._log_decay * np.arange(1, frames + 1, dtype=np.float64)
        if float(envelope.max(initial=0.0)) <= self.ceiling:
            if self._carry <= 0.0:
                return np.ones(frames, dtype=np.float32)
            reduction = self._carry * np.exp(decay)
        else:
            with np.errstate(divide="ignore"):
                required = np.maximum(20 * np.log10(envelope / self.ceiling), 0.0)
            w = self.window
            held = maximum_filter1d(required, w, origin=-(w // 2), mode="constant")
            smooth = uniform_filter1d(held, w, origin=(w - 1) // 2, mode="constant")
            attack = smooth[offset : offset + frames].astype(np.float64)
            # Float rounding in the average must not let a peak through.
            attack = np.maximum(attack, required[offset : offset + frames])
            with np.errstate(divide="ignore"):
                peaks = np.maximum.accumulate(np.log(attack) - decay)
                carried = math.log(self._carry) if self._carry > 0 else -math.inf
                reduction = np.exp(np.maximum(peaks, carried) + decay)
        self._carry = float(reduction[-1])
        if self._carry < 1e-6:  # inaudible: let the next quiet chunk skip the maths
            self._carry = 0.0
        gain: np.ndarray = np.power(10.0, reduction / -20.0).astype(np.float32)
        return gain
