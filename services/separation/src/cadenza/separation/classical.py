"""A separator that needs no trained weights: signal processing on the spectrogram.

- drums: the percussive part of harmonic/percussive separation (median filtering across
  time versus across frequency, Fitzgerald 2010);
- bass: the harmonic part below ~200 Hz;
- vocals: the harmonic part above the bass that sits in the centre of the stereo image,
  where a lead voice is mixed: a bin counts as centred in proportion to how far the
  similarity of its left and right values (2·Re(L·R̄) / (|L|² + |R|²): 1 when they are equal,
  lower when level or phase differ) rises above 0.8 (a source panned to a 2:1 level ratio
  scores 0.8: not centred at all). A mono mix has no such cue: there vocals are what does not
  repeat in the harmonic part (REPET-SIM: each frame compared with its most similar frames,
  Rafii & Pardo 2012);
- other: the rest of the harmonic part.

Every time-frequency bin is shared out by soft masks that add up to one, so the four stems
add up to the mix (to rounding). bench/separation_quality.py measures it on rendered
multitrack songs (docs/benchmarks.md): far better than mix/4 on every stem, far below a
trained model, and its vocals rely on the lead being centred and the rest not.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import median_filter

SOURCES = ("drums", "bass", "other", "vocals")
EPS = 1e-10
# Left/right similarity below which a bin is not in the centre at all (module docstring).
CENTRE_FLOOR = 0.8


class ClassicalSeparator(torch.nn.Module):
    """[batch, channels, time] → [batch, 4 sources, channels, time] at `samplerate`."""

    def __init__(self, samplerate: int, channels: int = 2, segment_s: float = 20.0) -> None:
        super().__init__()
        self.sources = list(SOURCES)
        self.samplerate = samplerate
        self.audio_channels = channels
        self.segment = segment_s
        self.segment_length = int(segment_s * samplerate)
        self.n_fft = 4096 if samplerate >= 32000 else 2048
        self.hop = self.n_fft // 4
        self.window = torch.hann_window(self.n_fft)
        freqs = np.fft.rfftfreq(self.n_fft, 1 / samplerate)
        self._low = 1 / (1 + (freqs / 200.0) ** 8)  # smooth low-pass at ~200 Hz
        self._bin_hz = samplerate / self.n_fft
        self._frame_s = self.hop / samplerate

    def valid_length(self, length: int) -> int:
        return length

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._separate(item) for item in mix])

    def _separate(self, audio: torch.Tensor) -> torch.Tensor:
        length = audio.shape[-1]
        spec = torch.stft(
            audio, self.n_fft, self.hop, window=self.window, return_complex=True
        )  # [channels, freqs, frames]
        masks = self._masks(spec.numpy())
        stems = []
        for mask in masks:
            masked = spec * torch.from_numpy(mask.astype(np.float32))
            stems.append(
                torch.istft(masked, self.n_fft, self.hop, window=self.window, length=length)
            )
        return torch.stack(stems)  # [sources, channels, time]

    def _masks(self, spec: np.ndarray) -> list[np.ndarray]:
        """Soft masks (drums, bass, other, vocals), shape [freqs, frames], summing to one."""
        magnitude = np.abs(spec).mean(axis=0)
        time_kernel = max(3, round(0.4 / self._frame_s) | 1)
        freq_kernel = max(3, round(120.0 / self._bin_hz) | 1)
        harmonic = median_filter(magnitude, size=(1, time_kernel), mode="reflect")
        percussive = median_filter(magnitude, size=(freq_kernel, 1), mode="reflect")
        p2, h2 = percussive**2, harmonic**2
        drums = p2 / (p2 + h2 + EPS)
        tonal = 1.0 - drums
        low = self._low[:, None]
        upper = tonal * (1 - low)
        foreground = self._centred(spec)
        if foreground is None:  # mono: no stereo cue, so what does not repeat
            foreground = self._non_repeating(magnitude * upper)
        return [drums, tonal * low, upper * (1 - foreground), upper * foreground]

    @staticmethod
    def _centred(spec: np.ndarray) -> np.ndarray | None:
        """How much each bin belongs to the centre of the stereo image, 0..1; None when the
        audio is mono (or both channels are the same)."""
        if spec.shape[0] != 2:
            return None
        left, right = spec[0], spec[1]
        power = np.abs(left) ** 2 + np.abs(right) ** 2
        side = np.abs(left - right) ** 2
        if side.sum() <= 1e-6 * power.sum():
            return None
        similarity = 2 * np.real(left * np.conj(right)) / (power + EPS)
        centred: np.ndarray = np.clip((similarity - CENTRE_FLOOR) / (1 - CENTRE_FLOOR), 0, 1)
        return centred

    def _non_repeating(self, magnitude: np.ndarray, neighbours: int = 10) -> np.ndarray:
        """REPET-SIM: the share of each bin the similar frames do not explain."""
        frames = magnitude.shape[1]
        if frames < 4:
            return np.zeros_like(magnitude)
        top = int(8000 / self._bin_hz)  # compare frames on the band vocals live in
        features = magnitude[:top]
        features = features / (np.linalg.norm(features, axis=0, keepdims=True) + EPS)
        similarity = features.T @ features
        # A frame's immediate neighbours are similar for the wrong reason (they overlap).
        near = round(1.0 / self._frame_s)
        if frames <= 2 * near + 1:
            return np.zeros_like(magnitude)  # too short to tell what repeats
        for shift in range(-near, near + 1):
            idx = np.arange(max(0, -shift), min(frames, frames - shift))
            similarity[idx, idx + shift] = -np.inf
        k = min(neighbours, frames - 2 * near - 1)
        best = np.argpartition(-similarity, k - 1, axis=1)[:, :k]  # [frames, k]
        repeating = np.median(magnitude[:, best], axis=2)  # [freqs, frames]
        repeating = np.minimum(repeating, magnitude)
        foreground: np.ndarray = 1.0 - repeating / (magnitude + EPS)
        return foreground
