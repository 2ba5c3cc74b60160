"""The effect chain contract: one model per pedalboard plugin, same names, units and defaults.

Each plugin is `{"type": "<snake_case pedalboard class>", ...parameters}`. Bounds are the
ranges pedalboard (JUCE) accepts, narrowed where a wider value only produces garbage.
Frequencies must also sit below the Nyquist frequency of the audio they are applied to;
that depends on the input, so `nyquist_violations` checks it once the sample rate is known.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Feedback = Annotated[float, Field(ge=-1.0, le=1.0, description="Feedback amount, -1..1.")]
Mix = Annotated[float, Field(ge=0.0, le=1.0, description="Wet/dry mix, 0 (dry) to 1 (wet).")]
RateHz = Annotated[float, Field(ge=0.0, lt=100.0, description="Modulation rate in Hz (< 100).")]
CutoffHz = Annotated[float, Field(ge=1.0, le=96_000.0, description="Cutoff frequency in Hz.")]
FilterGainDb = Annotated[float, Field(ge=-48.0, le=48.0, description="Gain in dB.")]
Q = Annotated[float, Field(ge=0.05, le=20.0, description="Filter Q (bandwidth).")]
AttackMs = Annotated[float, Field(ge=0.01, le=1000.0, description="Attack time in ms.")]
ReleaseMs = Annotated[float, Field(ge=1.0, le=5000.0, description="Release time in ms.")]


class Plugin(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def frequencies_hz(self) -> dict[str, float]:
        """Parameters that are frequencies and must stay below Nyquist."""
        return {}


class Gain(Plugin):
    """Changes the level by gain_db decibels."""

    type: Literal["gain"]
    gain_db: float = Field(1.0, ge=-60.0, le=24.0, description="Gain in dB.")


class Reverb(Plugin):
    """A room reverb (JUCE's, after Freeverb); freeze_mode above 0.5 holds the tail."""

    type: Literal["reverb"]
    room_size: Unit = 0.5
    damping: Unit = 0.5
    wet_level: Unit = 0.33
    dry_level: Unit = 0.4
    width: Unit = 1.0
    freeze_mode: Unit = 0.0


class Delay(Plugin):
    """An echo delay_seconds later, fed back by feedback and mixed in by mix."""

    type: Literal["delay"]
    delay_seconds: float = Field(0.5, ge=0.0, le=30.0, description="Delay time in seconds.")
    feedback: float = Field(0.0, ge=0.0, le=1.0, description="Feedback, 0..1.")
    mix: Mix = 0.5


class Chorus(Plugin):
    """Delayed copies around centre_delay_ms, their delay swept at rate_hz."""

    type: Literal["chorus"]
    rate_hz: RateHz = 1.0
    depth: Unit = 0.25
    centre_delay_ms: float = Field(7.0, ge=1.0, le=100.0, description="Centre delay in ms.")
    feedback: Feedback = 0.0
    mix: Mix = 0.5


class Phaser(Plugin):
    """Notches swept around centre_frequency_hz at rate_hz."""

    type: Literal["phaser"]
    rate_hz: RateHz = 1.0
    depth: Unit = 0.5
    centre_frequency_hz: CutoffHz = 1300.0
    feedback: Feedback = 0.0
    mix: Mix = 0.5

    def frequencies_hz(self) -> dict[str, float]:
        return {"centre_frequency_hz": self.centre_frequency_hz}


class Distortion(Plugin):
    """drive_db of gain into a tanh curve: soft clipping."""

    type: Literal["distortion"]
    drive_db: float = Field(25.0, ge=0.0, le=100.0, description="Drive in dB.")


class Compressor(Plugin):
    """Lowers what rises above threshold_db by ratio."""

    type: Literal["compressor"]
    # The examples are where an editor starts (the defaults, pedalboard's, compress nothing).
    threshold_db: float = Field(
        0.0, ge=-60.0, le=0.0, description="Threshold in dBFS.", examples=[-18.0]
    )
    ratio: float = Field(
        1.0, ge=1.0, le=100.0, description="Compression ratio (x:1).", examples=[3.0]
    )
    attack_ms: AttackMs = 1.0
    release_ms: ReleaseMs = 100.0


class Limiter(Plugin):
    """Holds peaks at threshold_db (two compressors and a hard clipper)."""

    type: Literal["limiter"]
    threshold_db: float = Field(
        -10.0, ge=-60.0, le=0.0, description="Threshold in dBFS.", examples=[-1.0]
    )
    release_ms: ReleaseMs = 100.0


class NoiseGate(Plugin):
    """Lowers what falls below threshold_db by ratio."""

    type: Literal["noise_gate"]
    threshold_db: float = Field(-100.0, ge=-100.0, le=0.0, description="Threshold in dBFS.")
    ratio: float = Field(10.0, ge=1.0, le=100.0, description="Expansion ratio (x:1).")
    attack_ms: AttackMs = 1.0
    release_ms: ReleaseMs = 100.0


class _Cutoff(Plugin):
    cutoff_frequency_hz: CutoffHz = 50.0

    def frequencies_hz(self) -> dict[str, float]:
        return {"cutoff_frequency_hz": self.cutoff_frequency_hz}


class HighpassFilter(_Cutoff):
    """Cuts below the cutoff, 6 dB per octave."""

    type: Literal["highpass_filter"]
    cutoff_frequency_hz: CutoffHz = Field(50.0, examples=[80.0])


class LowpassFilter(_Cutoff):
    """Cuts above the cutoff, 6 dB per octave."""

    type: Literal["lowpass_filter"]
    # An editor starts here: pedalboard's default of 50 Hz leaves little of a track.
    cutoff_frequency_hz: CutoffHz = Field(50.0, examples=[8000.0])


class _Shelf(Plugin):
    cutoff_frequency_hz: CutoffHz = 440.0
    gain_db: FilterGainDb = 0.0
    q: Q = 0.7071067690849304

    def frequencies_hz(self) -> dict[str, float]:
        return {"cutoff_frequency_hz": self.cutoff_frequency_hz}


class HighShelfFilter(_Shelf):
    """Raises or lowers everything above the cutoff by gain_db."""

    type: Literal["high_shelf_filter"]


class LowShelfFilter(_Shelf):
    """Raises or lowers everything below the cutoff by gain_db."""

    type: Literal["low_shelf_filter"]


class PeakFilter(_Shelf):
    """Raises or lowers a band around the cutoff by gain_db; q sets its width."""

    type: Literal["peak_filter"]


class PitchShift(Plugin):
    """Shifts the pitch by semitones, keeping the duration."""

    type: Literal["pitch_shift"]
    semitones: float = Field(0.0, ge=-72.0, le=72.0, description="Shift in semitones.")


class Bitcrush(Plugin):
    """Quantises to bit_depth bits."""

    type: Literal["bitcrush"]
    bit_depth: float = Field(8.0, ge=0.0, le=32.0, description="Bit depth to quantise to.")


class Clipping(Plugin):
    """Hard-clips at threshold_db."""

    type: Literal["clipping"]
    threshold_db: float = Field(-6.0, ge=-60.0, le=0.0, description="Hard-clip level in dBFS.")


class Invert(Plugin):
    """Flips the signal's polarity."""

    type: Literal["invert"]


Effect = Annotated[
    Gain
    | Reverb
    | Delay
    | Chorus
    | Phaser
    | Distortion
    | Compressor
    | Limiter
    | NoiseGate
    | HighpassFilter
    | LowpassFilter
    | HighShelfFilter
    | LowShelfFilter
    | PeakFilter
    | PitchShift
    | Bitcrush
    | Clipping
    | Invert,
    Field(discriminator="type"),
]

MAX_CHAIN_LENGTH = 32
EffectChain = Annotated[list[Effect], Field(min_length=1, max_length=MAX_CHAIN_LENGTH)]

EFFECT_MODELS: tuple[type[Plugin], ...] = get_args(get_args(Effect)[0])
EFFECT_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in EFFECT_MODELS
)


def nyquist_violations(chain: list[Effect], sample_rate: int) -> list[str]:
    """Readable problems for frequencies at or above Nyquist (they make filters blow up)."""
    nyquist = sample_rate / 2
    problems = []
    for index, plugin in enumerate(chain):
        for name, value in plugin.frequencies_hz().items():
            if value >= nyquist:
                problems.append(
                    f"chain.{index}.{name}: {value:g} Hz must be below {nyquist:g} Hz, "
                    f"half the input's sample rate of {sample_rate} Hz"
                )
    return problems
