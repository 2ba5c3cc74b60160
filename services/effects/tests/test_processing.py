"""Effect chains on files: streamed in blocks yet identical to whole-buffer pedalboard,
length, rate and channels preserved, bad chains refused with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pedalboard
import pytest
import soundfile as sf
from pydantic import TypeAdapter

from cadenza.audio import AudioDecodeError
from cadenza.contracts import EffectChain, OutputFormat
from cadenza.devstack.testing import rms_db, tone, write_noise, write_tone
from cadenza.effects.chain import PEDALBOARD_CLASSES, to_plugin
from cadenza.effects.processing import ChainError, apply_chain

CHAIN = TypeAdapter(EffectChain)
FLOAT_WAV = OutputFormat(format="wav", bit_depth=32)


def chain(*plugins: dict[str, Any]) -> EffectChain:
    return CHAIN.validate_python(list(plugins))


def test_gain_of_minus_6_db_lowers_rms_by_6_db(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "in.wav", 3.0, subtype="FLOAT")
    result = apply_chain(
        source,
        tmp_path / "out.wav",
        chain({"type": "gain", "gain_db": -6}),
        FLOAT_WAV,
        block_frames=4096,
    )
    before, _ = sf.read(str(source), dtype="float32")
    after, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert (rate, after.shape) == (44100, before.shape)
    assert rms_db(after) - rms_db(before) == pytest.approx(-6.0, abs=0.01)
    assert result.frames == before.shape[0] and result.channels == 2


@pytest.mark.parametrize(
    "plugins",
    [
        [{"type": "reverb", "room_size": 0.9}],
        [{"type": "delay", "delay_seconds": 0.3, "feedback": 0.5}],
        [{"type": "compressor", "threshold_db": -20, "ratio": 4}, {"type": "limiter"}],
        [{"type": "chorus"}, {"type": "phaser"}, {"type": "distortion", "drive_db": 10}],
        [
            {"type": "highpass_filter", "cutoff_frequency_hz": 200},
            {"type": "low_shelf_filter", "gain_db": 3},
            {"type": "peak_filter", "gain_db": -4},
            {"type": "high_shelf_filter", "gain_db": 2},
            {"type": "lowpass_filter", "cutoff_frequency_hz": 8000},
        ],
        [
            {"type": "noise_gate", "threshold_db": -30},
            {"type": "bitcrush", "bit_depth": 6},
            {"type": "clipping", "threshold_db": -3},
            {"type": "invert"},
        ],
    ],
    ids=["reverb", "delay", "dynamics", "modulation", "eq", "lofi"],
)
def test_streaming_in_blocks_equals_processing_the_whole_buffer(
    tmp_path: Path, plugins: list[dict[str, Any]]
) -> None:
    source = write_noise(tmp_path / "in.wav", 4.0)
    effects = chain(*plugins)
    apply_chain(source, tmp_path / "out.wav", effects, FLOAT_WAV, block_frames=3000)
    data, rate = sf.read(str(source), dtype="float32")
    whole = pedalboard.Pedalboard([to_plugin(e) for e in effects])(data.T, rate)
    streamed, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert streamed.shape == data.shape
    np.testing.assert_allclose(streamed.T, whole, atol=1e-5)


def test_pitch_shift_matches_whole_buffer_pedalboard_in_pitch_length_and_level(
    tmp_path: Path,
) -> None:
    source = write_tone(tmp_path / "in.wav", 8.0, frequency_hz=440.0, subtype="FLOAT")
    apply_chain(
        source,
        tmp_path / "out.wav",
        chain({"type": "pitch_shift", "semitones": 3}),
        FLOAT_WAV,
        block_frames=30_000,
    )
    out, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert out.shape == (8 * 44100, 2)
    reference = pedalboard.Pedalboard([pedalboard.PitchShift(semitones=3)])(tone(8.0).T, rate)[0]

    def peak_hz(signal: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(signal))
        return float(np.fft.rfftfreq(signal.size, 1 / rate)[spectrum.argmax()])

    def envelope(signal: np.ndarray) -> np.ndarray:
        window = 441  # 10 ms
        return np.sqrt(np.convolve(signal**2, np.ones(window) / window, mode="valid"))

    middle, ref_middle = out[rate : 7 * rate, 0], reference[rate : 7 * rate]
    assert peak_hz(middle) == pytest.approx(440 * 2 ** (3 / 12), rel=0.015)
    assert peak_hz(middle) == pytest.approx(peak_hz(ref_middle), rel=0.01)
    # Seams between segments add no dips deeper than rubberband's own wobble.
    ours, theirs = envelope(middle), envelope(ref_middle)
    assert ours.min() / np.median(ours) > 0.85 * theirs.min() / np.median(theirs)
    assert rms_db(middle) == pytest.approx(rms_db(ref_middle), abs=1.0)


def test_pitch_shift_between_other_plugins_keeps_the_length(tmp_path: Path) -> None:
    source = write_noise(tmp_path / "in.wav", 3.3)
    effects = chain(
        {"type": "gain", "gain_db": -3},
        {"type": "pitch_shift", "semitones": -5},
        {"type": "pitch_shift", "semitones": 2},
        {"type": "reverb"},
    )
    result = apply_chain(source, tmp_path / "out.wav", effects, FLOAT_WAV, block_frames=20_000)
    assert result.frames == sf.info(str(source)).frames
    out, _ = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert np.isfinite(out).all() and rms_db(out) > -40


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_every_output_format_keeps_rate_channels_and_duration(tmp_path: Path, fmt: str) -> None:
    source = write_tone(tmp_path / "in.wav", 2.0, sample_rate=48000, channels=1)
    out = tmp_path / f"out.{fmt}"
    apply_chain(source, out, chain({"type": "gain", "gain_db": -1}), OutputFormat(format=fmt))
    info = sf.info(str(out))
    assert (info.samplerate, info.channels) == (48000, 1)
    assert info.duration == pytest.approx(2.0, abs=0.05)


def test_integer_formats_clip_instead_of_wrapping(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "in.wav", 1.0, amplitude=0.9)
    out = tmp_path / "out.wav"
    apply_chain(source, out, chain({"type": "gain", "gain_db": 12}), OutputFormat(bit_depth=16))
    data, _ = sf.read(str(out), dtype="float32")
    assert data.max() == pytest.approx(1.0, abs=1e-3)
    assert (data > 0.99).mean() > 0.3  # clipped flat tops, not wrapped negative spikes


def test_frequencies_above_nyquist_are_refused(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "in.wav", 1.0, sample_rate=22050)
    with pytest.raises(ChainError, match="must be below 11025 Hz"):
        apply_chain(
            source,
            tmp_path / "out.wav",
            chain({"type": "lowpass_filter", "cutoff_frequency_hz": 15000}),
            FLOAT_WAV,
        )


def test_mp3_output_needs_an_mp3_sample_rate(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "in.wav", 1.0, sample_rate=96000)
    with pytest.raises(ChainError, match="mp3 cannot store 96000 Hz"):
        apply_chain(
            source, tmp_path / "out.mp3", chain({"type": "gain"}), OutputFormat(format="mp3")
        )


def test_undecodable_input_raises_a_decode_error(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes(b"RIFF....WAVEjunk" * 100)
    with pytest.raises(AudioDecodeError):
        apply_chain(source, tmp_path / "out.wav", chain({"type": "gain"}), FLOAT_WAV)


def test_progress_is_reported_up_to_one(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "in.wav", 3.0)
    seen: list[float] = []
    apply_chain(
        source,
        tmp_path / "out.wav",
        chain({"type": "gain"}),
        FLOAT_WAV,
        block_frames=8192,
        on_progress=seen.append,
    )
    assert len(seen) >= 16
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_every_contract_type_maps_to_a_pedalboard_plugin() -> None:
    from cadenza.contracts.effect_chain import EFFECT_TYPES

    assert set(PEDALBOARD_CLASSES) == set(EFFECT_TYPES)
    for effect in chain(*({"type": t} for t in EFFECT_TYPES)):
        assert isinstance(to_plugin(effect), pedalboard.Plugin)


def test_chains_over_their_memory_or_output_budget_are_refused_before_any_work(
    tmp_path: Path,
) -> None:
    from cadenza.effects.processing import BudgetError

    source = write_tone(tmp_path / "in.wav", 2.0)
    long_delay = chain({"type": "gain"}, {"type": "delay", "delay_seconds": 30})
    with pytest.raises(
        BudgetError, match=r"chain\.1: .* \(most of it for its delay at position 1\)"
    ):
        apply_chain(source, tmp_path / "out.wav", long_delay, FLOAT_WAV, max_memory_bytes=1 << 20)
    assert not (tmp_path / "out.wav").exists()
    with pytest.raises(BudgetError, match=r"the output would take about 689\.1 KiB"):
        apply_chain(
            source, tmp_path / "out.wav", chain({"type": "gain"}), FLOAT_WAV, max_output_bytes=1000
        )
    # Within both, it runs.
    done = apply_chain(
        source,
        tmp_path / "out.wav",
        long_delay,
        FLOAT_WAV,
        max_memory_bytes=64 << 20,
        max_output_bytes=1 << 20,
    )
    assert done.frames == 88_200


def test_the_checkpoint_runs_between_stages_and_stops_the_work(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "in.wav", 3.0)
    calls = 0

    class StopError(Exception):
        pass

    def checkpoint() -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise StopError

    heavy = chain(*[{"type": "pitch_shift", "semitones": 2}] * 3, {"type": "reverb"})
    with pytest.raises(StopError):
        apply_chain(source, tmp_path / "out.wav", heavy, FLOAT_WAV, checkpoint=checkpoint)
    # Four stages per block (three pitch shifts, then the reverb): the fifth call is the
    # second block's first stage, so the work stopped mid-file.
    assert calls == 5
