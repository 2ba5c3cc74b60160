"""Mixing stems: gains and pans do what they say, lengths are padded, other sample rates
are resampled, the rendered stems plus the effects return remix into the render's mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cadenza.contracts.audio_format import OutputFormat
from cadenza.render.engine import MixError, RenderResult, mix_stems

FLOAT_WAV = OutputFormat(format="wav", bit_depth=32)
RATE = 44100


def write(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    sf.write(str(path), audio.T if audio.ndim == 2 else audio, rate, subtype="FLOAT")
    return path


def read(path: Path) -> np.ndarray:
    data: np.ndarray = sf.read(str(path), dtype="float64", always_2d=True)[0]
    return data.T


def sine(seconds: float, hz: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.25 * np.sin(2 * np.pi * hz * t)


def test_rendered_stems_and_effects_remix_into_the_render(
    rendered: RenderResult, tmp_path: Path
) -> None:
    assert rendered.effects is not None
    stems = {**rendered.stems, "effects": rendered.effects}
    result = mix_stems(stems, tmp_path / "remix.wav", output=FLOAT_WAV)
    assert np.abs(read(result.path) - read(rendered.mix)).max() < 1e-6
    assert result.duration_s == pytest.approx(rendered.duration_s)
    assert result.peak_db == pytest.approx(rendered.peak_db, abs=0.01)


def test_gain_pan_and_padding(tmp_path: Path) -> None:
    mono = write(tmp_path / "mono.wav", sine(1.0, 440))
    stereo = write(tmp_path / "stereo.wav", np.stack([sine(2.0, 220), sine(2.0, 330)]))
    result = mix_stems(
        {"vox": mono, "keys": stereo},
        tmp_path / "mix.wav",
        gains_db={"keys": -6.0},
        pans={"vox": -1.0, "keys": 0.5},
        output=FLOAT_WAV,
    )
    mix = read(result.path)
    assert mix.shape == (2, 2 * RATE) and result.duration_s == 2.0
    keys = np.stack([sine(2.0, 220), sine(2.0, 330)]) * 10 ** (-6 / 20)
    # Hard left: the mono stem only in the left channel, at full level.
    assert np.allclose(mix[0, :RATE], sine(1.0, 440) + keys[0, :RATE] * 0.5, atol=1e-6)
    # Balance right by 0.5: left at half, right untouched; the mono stem ended at 1 s.
    assert np.allclose(mix[1], keys[1], atol=1e-6)
    assert np.allclose(mix[0, RATE:], keys[0, RATE:] * 0.5, atol=1e-6)


def test_a_centred_mono_stem_is_minus_3_db_each_side(tmp_path: Path) -> None:
    mono = write(tmp_path / "mono.wav", sine(1.0, 440))
    mix = read(mix_stems({"m": mono}, tmp_path / "mix.wav", output=FLOAT_WAV).path)
    assert np.allclose(mix, np.stack([sine(1.0, 440)] * 2) * np.sqrt(0.5), atol=1e-6)


def test_other_sample_rates_are_resampled(tmp_path: Path) -> None:
    at_44k = write(tmp_path / "a.wav", np.stack([sine(2.0, 440)] * 2))
    at_48k = write(tmp_path / "b.wav", np.stack([sine(1.5, 440, 48000)] * 2), 48000)
    also_44k = write(tmp_path / "c.wav", np.stack([sine(1.0, 220)] * 2))
    result = mix_stems(
        {"a": at_44k, "b": at_48k, "c": also_44k}, tmp_path / "m.wav", output=FLOAT_WAV
    )
    assert result.sample_rate == RATE and result.duration_s == pytest.approx(2.0)
    mix = read(result.path)
    resampled_b = mix[0, 4410:RATE] - sine(2.0, 440)[4410:RATE] - sine(1.0, 220)[4410:RATE]
    assert np.abs(resampled_b - sine(2.0, 440)[4410:RATE]).max() < 1e-3  # same 440 Hz tone


def test_peak_is_reported_and_clipping_flagged(tmp_path: Path) -> None:
    loud = write(tmp_path / "loud.wav", np.stack([sine(1.0, 100) * 3] * 2))
    result = mix_stems({"loud": loud}, tmp_path / "m.wav", output=OutputFormat(bit_depth=16))
    assert result.peak_db == pytest.approx(20 * np.log10(0.75), abs=0.01)
    assert not result.clipped
    louder = mix_stems(
        {"loud": loud},
        tmp_path / "m2.wav",
        gains_db={"loud": 6.0},
        output=OutputFormat(bit_depth=16),
    )
    assert louder.clipped and louder.peak_db == pytest.approx(20 * np.log10(0.75) + 6, abs=0.01)
    assert np.abs(read(louder.path)).max() <= 1.0


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    stem = write(tmp_path / "s.wav", np.stack([sine(1.0, 440)] * 2))
    with pytest.raises(MixError, match="not in the mix: drums"):
        mix_stems({"s": stem}, tmp_path / "m.wav", gains_db={"drums": 1.0})
    with pytest.raises(MixError, match="pan of 's'"):
        mix_stems({"s": stem}, tmp_path / "m.wav", pans={"s": 2.0})
    with pytest.raises(MixError, match="no stems"):
        mix_stems({}, tmp_path / "m.wav")
