"""The GPU path of true peak (torch, run here on the CPU device: the same code, another
device) gives scipy's answer, and a master made with it is the master made with scipy.
DEVICE picks the backend and refuses a GPU that is not there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch

from cadenza.render.engine import master
from cadenza.render.engine.loudness import measure_file, true_peak_envelope
from cadenza.render.engine.oversample import (
    CPU,
    Oversampler,
    ScipyOversampler,
    TorchOversampler,
    oversampler_for,
    scipy_filter,
)
from cadenza.render.settings import Settings

RATE = 44100


def test_the_filter_is_the_one_resample_poly_uses() -> None:
    impulse = np.zeros(64, dtype=np.float64)
    impulse[32] = 1.0
    response = scipy.signal.resample_poly(impulse, 4, 1)
    taps = scipy_filter()
    # An impulse at sample 32 comes out as the filter centred on output sample 128.
    np.testing.assert_allclose(response[128 - 40 : 128 + 41], taps, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 1000), (2, 3 * 65536 + 13), (5, 4410)])
def test_torch_envelope_equals_scipy_envelope(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    audio = (rng.standard_normal(shape) * 0.4).astype(np.float32)
    expected = ScipyOversampler().envelope(audio)
    got = TorchOversampler("cpu").envelope(audio)
    assert got.dtype == np.float32 and got.shape == (shape[1],)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)


def test_torch_envelope_of_an_empty_block_is_empty() -> None:
    assert TorchOversampler("cpu").envelope(np.zeros((2, 0), np.float32)).shape == (0,)


def test_an_intersample_peak_is_found_by_both() -> None:
    # fs/4 sine at 45° phase: every sample is at 0.707 of the true peak (1.0).
    n = np.arange(4096)
    audio = np.sin(np.pi / 2 * n + np.pi / 4).astype(np.float32)[None, :]
    for oversampler in (ScipyOversampler(), TorchOversampler("cpu")):
        envelope = true_peak_envelope(audio, oversampler)
        assert float(np.abs(audio).max()) == pytest.approx(0.7071, abs=1e-3)
        assert float(envelope[100:-100].max()) == pytest.approx(1.0, abs=0.01)


def test_a_master_made_with_the_torch_path_is_the_scipy_master(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    t = np.arange(6 * RATE) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 110 * t) + 0.1 * rng.standard_normal(t.size)
    sf.write(str(tmp_path / "in.wav"), np.stack([tone, 0.8 * tone]).T, RATE, subtype="FLOAT")
    results = {}
    backends: dict[str, Oversampler] = {"scipy": CPU, "torch": TorchOversampler("cpu")}
    for name, oversampler in backends.items():
        out = tmp_path / f"{name}.wav"
        results[name] = master(
            tmp_path / "in.wav",
            out,
            target_lufs=-14.0,
            true_peak_db=-1.0,
            oversampler=oversampler,
        )
        assert measure_file(out, oversampler)[:2] == pytest.approx(
            measure_file(out, CPU)[:2], abs=1e-4
        )
    assert results["torch"].lufs == pytest.approx(results["scipy"].lufs, abs=1e-3)
    assert results["torch"].true_peak_db == pytest.approx(results["scipy"].true_peak_db, abs=1e-3)
    assert results["torch"].true_peak_db <= -1.0 + 0.05


def test_device_setting_picks_the_backend() -> None:
    assert oversampler_for("cpu") is CPU
    assert Settings(device="cpu").device == "cpu"
    with pytest.raises(ValueError, match="DEVICE must be one of"):
        oversampler_for("tpu")
    if torch.cuda.is_available():
        assert oversampler_for("cuda").device.startswith("cuda")
        assert oversampler_for("auto").device.startswith("cuda")
    else:
        with pytest.raises(ValueError, match="no CUDA device"):
            oversampler_for("cuda")
        assert oversampler_for("auto") is CPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_envelope_equals_scipy_envelope() -> None:
    audio = (np.random.default_rng(2).standard_normal((2, 1 << 18)) * 0.4).astype(np.float32)
    np.testing.assert_allclose(
        TorchOversampler("cuda").envelope(audio), ScipyOversampler().envelope(audio), atol=2e-6
    )
