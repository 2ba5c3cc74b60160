"""Mastering: gentle EQ and compression, gain to a loudness target (ITU-R BS.1770), and
a true-peak ceiling, verified on the file as written.

The passes, each streaming in chunks, so memory stays flat whatever the length (the
processed signal and its true-peak envelope wait in raw float32 files beside the output):

1. measure the input's integrated loudness and true peak (what the studio shows as
   "before");
2. decode again, mono → stereo, bring it near −18 LUFS, EQ (30 Hz high-pass, +1 dB
   low shelf at 100 Hz, +1.5 dB high shelf at 10 kHz) and a 2:1 compressor (pedalboard),
   keep the result and its loudness;
3. its true-peak envelope (4× oversampled), kept too;
4. find the gain that lands the limited signal on the target: gain, limit (limiter.py),
   measure, correct, by the secant method (no limiting needed: one step, exact);
5. write it (16-bit output TPDF-dithered), decode it back and measure what was written.
   Lossy codecs move loudness and peaks a little (MP3/Vorbis overshoot inter-sample
   peaks); if the written file misses the target or the ceiling, aim off by what the
   codec did and write again (≤ 3 times).

Time is about linear in length (see bench/mastering_accuracy.py for seconds per minute);
`max_seconds` bounds it.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard

from cadenza.audio import AudioWriter, header_info, read_blocks
from cadenza.contracts.audio_format import OutputFormat
from cadenza.render.engine.limiter import TruePeakLimiter
from cadenza.render.engine.loudness import (
    CHUNK_FRAMES,
    TP_CONTEXT,
    LoudnessMeter,
    db,
    envelope_with_context,
    measure_file,
)
from cadenza.render.engine.oversample import CPU, Oversampler
from cadenza.render.engine.rawaudio import RawAudio

PRESETS: dict[str, tuple[float, float]] = {
    "streaming": (-14.0, -1.0),  # Spotify, YouTube, Tidal, Amazon
    "apple": (-16.0, -1.0),  # Apple Music (Sound Check)
    "broadcast": (-23.0, -1.0),  # EBU R128
}
TARGET_RANGE = (-36.0, -6.0)
CEILING_RANGE = (-9.0, 0.0)
QUIET_LUFS = -70.0  # BS.1770's absolute gate: below it there is nothing to measure
COMPRESSOR_LEVEL_LUFS = -18.0  # where the compressor's threshold is set for
MIN_SECONDS = 0.4  # one BS.1770 block
MAX_MASTER_SECONDS = 3 * 3600.0
TOLERANCE_LU = 0.005  # how close the passes aim; the written file is checked at 0.05
WRITTEN_TOLERANCE_LU = 0.05
CEILING_MARGIN_DB = 0.02  # the limiter aims this far under the ceiling
MAX_PASSES = 8
MAX_WRITES = 3


class MasterError(ValueError):
    """The input cannot be mastered as asked; the message says why, for a person."""


@dataclass(frozen=True)
class MasterResult:
    """What was measured on the written file (decoded back), and how it got there.

    `gain_db` is the static gain applied (before and after the EQ/compressor); the
    limiter's reduction comes on top. `codec_overshoot_db` is how much the encoder
    raised the true peak (lossy formats; 0 for WAV/FLAC)."""

    lufs: float
    true_peak_db: float
    input_lufs: float
    input_true_peak_db: float
    gain_db: float
    passes: int
    duration_s: float
    sample_rate: int = 0
    channels: int = 2
    writes: int = 1
    codec_overshoot_db: float = 0.0


def master(
    in_path: Path,
    out_path: Path,
    *,
    target_lufs: float,
    true_peak_db: float,
    output: OutputFormat = OutputFormat(),  # noqa: B008 — frozen, so sharing it is safe
    eq: bool = True,
    compress: bool = True,
    on_progress: Callable[[float], None] | None = None,
    max_seconds: float = MAX_MASTER_SECONDS,
    oversampler: Oversampler = CPU,
) -> MasterResult:
    """`oversampler` computes the true-peak envelopes: scipy on the CPU, or a GPU."""
    _check_targets(target_lufs, true_peak_db)
    rate, in_channels, frames = header_info(in_path)
    _check_input(rate, in_channels, frames, output, max_seconds)
    progress = on_progress or (lambda _: None)

    input_lufs, input_true_peak_db, _, _ = measure_file(in_path, oversampler)
    if input_true_peak_db == -math.inf:
        raise MasterError("the input is digital silence; there is nothing to master")
    if input_lufs <= QUIET_LUFS:
        raise MasterError(
            f"the input is too quiet to master: its loudness is below {QUIET_LUFS:.0f} LUFS "
            "(BS.1770's gate), so no gain to a target can be measured"
        )
    progress(0.1)
    # Two identical channels measure 3.01 LU louder than one.
    stereo_lufs = input_lufs + (10 * math.log10(2) if in_channels == 1 else 0.0)
    pre_gain_db = COMPRESSOR_LEVEL_LUFS - stereo_lufs if compress else 0.0

    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".master-") as tmp:
            work = Path(tmp)
            shaped, shaped_lufs = _shape(
                in_path, work / "shaped.f32", rate, pre_gain_db, eq, compress
            )
            progress(0.35)
            if shaped_lufs <= QUIET_LUFS:
                raise MasterError("after EQ the input is below −70 LUFS; too quiet to master")
            envelope = _envelope(shaped, work / "envelope.f32", oversampler)
            progress(0.5)
            written = _write_on_target(
                _Shaped(shaped, shaped_lufs, *envelope),
                out_path,
                output,
                target_lufs,
                true_peak_db,
                work,
                progress,
                oversampler,
            )
    except BaseException:
        out_path.unlink(missing_ok=True)  # never leave a half-written master behind
        raise
    progress(1.0)
    return MasterResult(
        lufs=written.lufs,
        true_peak_db=written.true_peak_db,
        input_lufs=input_lufs,
        input_true_peak_db=input_true_peak_db,
        gain_db=pre_gain_db + written.gain_db,
        passes=written.passes,
        duration_s=frames / rate,
        sample_rate=rate,
        channels=2,
        writes=written.writes,
        codec_overshoot_db=written.codec_overshoot_db,
    )


@dataclass(frozen=True)
class _Shaped:
    """The EQ'd and compressed signal, its loudness, its true-peak envelope and peak."""

    audio: RawAudio
    lufs: float
    envelope: RawAudio
    envelope_peak: float


@dataclass(frozen=True)
class _Written:
    lufs: float
    true_peak_db: float
    gain_db: float
    passes: int
    writes: int
    codec_overshoot_db: float


def _write_on_target(
    shaped: _Shaped,
    out_path: Path,
    output: OutputFormat,
    target_lufs: float,
    ceiling_db: float,
    work: Path,
    progress: Callable[[float], None],
    oversampler: Oversampler,
) -> _Written:
    """Find the gain, write, measure the file; if the codec moved it off target or over
    the ceiling, aim off by as much and write again."""
    lossy = output.format in ("mp3", "ogg")
    aim_lufs, aim_ceiling_db = target_lufs, ceiling_db - CEILING_MARGIN_DB
    passes = 0
    for writes in range(1, MAX_WRITES + 1):
        gain_db, used = _find_gain(shaped, aim_lufs, aim_ceiling_db)
        passes += used + 1
        float_copy = work / "float.f32" if lossy else None
        float_peak_db = _write(
            shaped, gain_db, aim_ceiling_db, out_path, output, float_copy, oversampler
        )
        lufs, peak_db, _, _ = measure_file(out_path, oversampler)
        progress(min(0.7 + 0.1 * writes, 0.95))
        on_target = abs(lufs - target_lufs) <= WRITTEN_TOLERANCE_LU
        if (on_target and peak_db <= ceiling_db) or writes == MAX_WRITES:
            break
        aim_lufs += target_lufs - lufs
        aim_ceiling_db -= max(peak_db - ceiling_db, 0.0) + CEILING_MARGIN_DB
    overshoot = peak_db - float_peak_db if lossy else 0.0
    return _Written(lufs, peak_db, gain_db, passes, writes, overshoot)


def _check_targets(target_lufs: float, true_peak_db: float) -> None:
    low, high = TARGET_RANGE
    if not low <= target_lufs <= high:
        raise MasterError(f"target loudness must be {low:.0f}..{high:.0f} LUFS, not {target_lufs}")
    low, high = CEILING_RANGE
    if not low <= true_peak_db <= high:
        raise MasterError(
            f"true-peak ceiling must be {low:.0f}..{high:.0f} dBTP, not {true_peak_db}"
        )


def _check_input(
    rate: int, channels: int, frames: int, output: OutputFormat, max_seconds: float
) -> None:
    if channels > 2:
        raise MasterError(f"mastering takes mono or stereo audio, not {channels} channels")
    seconds = frames / rate
    if seconds < MIN_SECONDS:
        raise MasterError(
            f"the input lasts {seconds:.2f} s; loudness needs at least {MIN_SECONDS} s"
        )
    if seconds > max_seconds:
        raise MasterError(
            f"the input lasts {seconds / 60:.0f} minutes, more than the "
            f"{max_seconds / 60:.0f} minutes a master may take"
        )
    if problem := output.sample_rate_problem(rate):
        raise MasterError(problem)


def _chain(eq: bool, compress: bool) -> pedalboard.Pedalboard:
    plugins = []
    if eq:
        plugins += [
            pedalboard.HighpassFilter(cutoff_frequency_hz=30.0),
            pedalboard.LowShelfFilter(cutoff_frequency_hz=100.0, gain_db=1.0),
            pedalboard.HighShelfFilter(cutoff_frequency_hz=10000.0, gain_db=1.5),
        ]
    if compress:
        plugins.append(
            pedalboard.Compressor(threshold_db=-16.0, ratio=2.0, attack_ms=20.0, release_ms=250.0)
        )
    return pedalboard.Pedalboard(plugins)


def _shape(
    source: Path, dest: Path, rate: int, pre_gain_db: float, eq: bool, compress: bool
) -> tuple[RawAudio, float]:
    """Decode, make stereo, pre-gain, EQ and compress into a raw file; its loudness."""
    board = _chain(eq, compress)
    pre_gain = np.float32(10 ** (pre_gain_db / 20))
    meter = LoudnessMeter(rate, 2, precise=False)
    shaped = RawAudio(dest, 2)
    for block in read_blocks(source, CHUNK_FRAMES):
        stereo = np.repeat(block, 2, axis=0) if block.shape[0] == 1 else block
        processed = stereo * pre_gain
        if board:
            processed = board.process(processed, rate, reset=False)
        shaped.append(processed)
        meter.add(processed)
    shaped.finish(rate)
    return shaped, meter.lufs()


def _envelope(shaped: RawAudio, dest: Path, oversampler: Oversampler) -> tuple[RawAudio, float]:
    """The true-peak envelope of `shaped`, in a raw file of its own; and its maximum."""
    envelope = RawAudio(dest, 1)
    peak = 0.0
    for start, end in shaped.chunks():
        lo, hi = shaped.around(start, end, TP_CONTEXT)
        values = envelope_with_context(shaped.read(lo, hi), start - lo, end - lo, oversampler)
        envelope.append(values[None, :])
        peak = max(peak, float(values.max(initial=0.0)))
    envelope.finish(shaped.sample_rate)
    return envelope, peak


def _limited(shaped: _Shaped, gain_db: float, ceiling_db: float) -> Iterator[np.ndarray]:
    """The shaped signal with `gain_db` applied, then limited to `ceiling_db` true peak;
    in chunks."""
    audio, gain = shaped.audio, 10 ** (gain_db / 20)
    limiter = TruePeakLimiter(audio.sample_rate, 10 ** (ceiling_db / 20))
    for start, end in audio.chunks():
        lo, hi = audio.around(start, end, limiter.context)
        curve = limiter.gain(shaped.envelope.read(lo, hi)[0] * gain, start - lo, end - start)
        yield audio.read(start, end) * (curve * np.float32(gain))


def _loudness_of(chunks: Iterator[np.ndarray], rate: int) -> float:
    meter = LoudnessMeter(rate, 2, precise=False)
    for chunk in chunks:
        meter.add(chunk)
    return meter.lufs()


def _find_gain(shaped: _Shaped, target_lufs: float, ceiling_db: float) -> tuple[float, int]:
    """The gain (dB) that makes the limited signal measure `target_lufs`, and how many
    passes over the audio finding it took. Loudness rises monotonically with gain, more
    slowly once the limiter works; the secant method converges in a few passes."""
    gain = target_lufs - shaped.lufs
    if db(shaped.envelope_peak) + gain <= ceiling_db:
        return gain, 0  # the limiter stays idle: loudness moves 1:1 with gain
    tried: list[tuple[float, float]] = []
    for passes in range(1, MAX_PASSES + 1):
        lufs = _loudness_of(_limited(shaped, gain, ceiling_db), shaped.audio.sample_rate)
        tried.append((gain, lufs))
        error = target_lufs - lufs
        if abs(error) <= TOLERANCE_LU:
            return gain, passes
        if len(tried) == 1:
            step = error
        else:
            (g0, l0), (g1, l1) = tried[-2], tried[-1]
            slope = (l1 - l0) / (g1 - g0) if g1 != g0 else 1.0
            step = error / min(max(slope, 0.05), 1.0)
        gain += max(min(step, 12.0), -12.0)
    best = min(tried, key=lambda t: abs(target_lufs - t[1]))
    return best[0], MAX_PASSES


def _write(
    shaped: _Shaped,
    gain_db: float,
    ceiling_db: float,
    out_path: Path,
    output: OutputFormat,
    float_copy: Path | None,
    oversampler: Oversampler,
) -> float:
    """Write the master; the true peak (dBTP) of the float signal that went to the
    encoder, measured from a raw copy when `float_copy` is given (else the ceiling)."""
    copy = RawAudio(float_copy, 2) if float_copy else None
    dither = _Dither() if output.bit_depth == 16 else None
    rate = shaped.audio.sample_rate
    with AudioWriter(out_path, output, rate, 2) as writer:
        for chunk in _limited(shaped, gain_db, ceiling_db):
            writer.write(dither(chunk) if dither else chunk)
            if copy:
                copy.append(chunk)
    if copy is None:
        return ceiling_db
    copy.finish(rate)
    _, peak = _envelope(copy, copy.path.with_suffix(".env"), oversampler)
    return db(peak)


class _Dither:
    """TPDF dither of ±1 LSB for 16-bit output, so quiet passages and fades quantize into
    a constant noise floor (−96 dBFS) rather than into distortion. Seeded: the same
    input masters to the same bytes."""

    LSB = 2.0**-15

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        noise = self._rng.random(chunk.shape, dtype=np.float32)
        noise -= self._rng.random(chunk.shape, dtype=np.float32)
        dithered: np.ndarray = chunk + noise * np.float32(self.LSB)
        return dithered
