"""The 4× oversampling behind true peak (BS.1770-4 Annex 2), on the CPU or on a GPU.

It is the heaviest step of mastering (about half of its time on a CPU: the shaped signal's
envelope, then every written file measured back), and it is a plain polyphase FIR filter,
so it moves to a GPU as one transposed convolution. Both backends use scipy's
`resample_poly(x, 4, 1)` filter (Kaiser-windowed sinc, 81 taps), so they agree to float32
rounding; the tests hold them together.

DEVICE (render's setting) picks one: `cpu` (scipy), `cuda` (torch on the GPU; refused at
start when there is none) or `auto` (the GPU when an NVIDIA driver is loaded and torch sees
a device, scipy otherwise). torch is imported only then: the CPU image does not carry it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
import scipy.signal

OVERSAMPLE = 4
# resample_poly's filter for up=4: 2·(10·4)+1 taps, centred on tap HALF_TAPS.
HALF_TAPS = 10 * OVERSAMPLE
DEVICES = ("cpu", "cuda", "auto")


class Oversampler(Protocol):
    """Per input sample n, the largest |value| of the 4× oversampled signal from n up to
    n+1, over all channels: `envelope((channels, frames)) → (frames,)` float32."""

    device: str

    def envelope(self, audio: np.ndarray) -> np.ndarray: ...


class ScipyOversampler:
    device = "cpu"

    def envelope(self, audio: np.ndarray) -> np.ndarray:
        up = scipy.signal.resample_poly(audio, OVERSAMPLE, 1, axis=-1)
        # Elementwise maxima over strided views: a reduction over a small trailing axis is
        # 10× slower.
        envelope = np.abs(up[:, 0::OVERSAMPLE])
        for phase in range(1, OVERSAMPLE):
            np.maximum(envelope, np.abs(up[:, phase::OVERSAMPLE]), out=envelope)
        result: np.ndarray = envelope.max(axis=0) if envelope.shape[0] > 1 else envelope[0]
        return result


class TorchOversampler:
    """The same filter as a transposed convolution with stride 4, in float32 on `device`
    (any torch device; the tests run it on the CPU, production on CUDA)."""

    def __init__(self, device: str) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)
        self.device = str(self._device)
        taps = scipy_filter().astype(np.float32)
        self._kernel = torch.from_numpy(taps).to(self._device).view(1, 1, -1)

    def envelope(self, audio: np.ndarray) -> np.ndarray:
        torch = self._torch
        channels, frames = audio.shape
        if frames == 0:
            return np.empty(0, dtype=np.float32)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
            x = x.to(self._device, non_blocking=True).view(channels, 1, frames)
            full = torch.nn.functional.conv_transpose1d(x, self._kernel, stride=OVERSAMPLE)
            up = full[:, 0, HALF_TAPS : HALF_TAPS + OVERSAMPLE * frames]
            per_sample = up.abs().reshape(channels, frames, OVERSAMPLE).amax(dim=2)
            result: np.ndarray = per_sample.amax(dim=0).cpu().numpy()
            return result


@cache
def scipy_filter() -> np.ndarray:
    """The FIR taps `scipy.signal.resample_poly(x, 4, 1)` designs (gain 4 included)."""
    taps: np.ndarray = scipy.signal.firwin(
        2 * HALF_TAPS + 1, 1.0 / OVERSAMPLE, window=("kaiser", 5.0)
    )
    return taps * OVERSAMPLE


CPU = ScipyOversampler()


def oversampler_for(device: str) -> Oversampler:
    """The backend for render's DEVICE setting; ValueError with a reason for a GPU that is
    not there."""
    if device not in DEVICES:
        raise ValueError(f"DEVICE must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cpu" or (device == "auto" and not _nvidia_driver_present()):
        return CPU
    try:
        import torch
    except ImportError:
        if device == "auto":
            return CPU
        raise ValueError("DEVICE=cuda needs torch with CUDA; this install has no torch") from None
    if not torch.cuda.is_available():
        if device == "auto":
            return CPU
        raise ValueError("DEVICE=cuda, but torch sees no CUDA device")
    return TorchOversampler("cuda")


def _nvidia_driver_present() -> bool:
    """Whether an NVIDIA driver is loaded: `auto` checks this before importing torch, which
    would cost a CPU-only worker a second of start-up and a few hundred MB for nothing."""
    return Path("/proc/driver/nvidia/version").exists()
