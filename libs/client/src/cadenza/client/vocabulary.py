"""The API's vocabulary: effects with their parameters' bounds, output formats, presets,
engines and job statuses. Generated from libs/contracts by `make generate` (`cadenza-gateway
client-vocabulary`): do not edit; a test fails while this file is stale."""

from __future__ import annotations

from typing import NamedTuple


class EffectParameter(NamedTuple):
    default: float
    minimum: float
    maximum: float
    exclusive_maximum: bool
    unit: str | None


OUTPUT_FORMATS: tuple[str, ...] = ("wav", "flac", "mp3", "ogg")
MASTER_PRESETS: tuple[str, ...] = ("streaming", "apple", "broadcast")
BLEND_ENGINES: tuple[str, ...] = ("learned", "markov")
BLEND_STYLES: tuple[str, ...] = ("pop", "rock", "ballad", "folk", "dance")
BLEND_ENSEMBLES: tuple[str, ...] = ("auto", "choir", "strings", "winds", "organ", "piano", "folk")
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "completed", "failed", "cancelled")
TERMINAL_STATUSES: frozenset[str] = frozenset(("completed", "failed", "cancelled"))
# Effect type → parameter → its default, bounds and unit.
EFFECTS: dict[str, dict[str, EffectParameter]] = {
    "gain": {
        "gain_db": EffectParameter(1.0, -60.0, 24.0, False, "dB"),
    },
    "reverb": {
        "room_size": EffectParameter(0.5, 0.0, 1.0, False, None),
        "damping": EffectParameter(0.5, 0.0, 1.0, False, None),
        "wet_level": EffectParameter(0.33, 0.0, 1.0, False, None),
        "dry_level": EffectParameter(0.4, 0.0, 1.0, False, None),
        "width": EffectParameter(1.0, 0.0, 1.0, False, None),
        "freeze_mode": EffectParameter(0.0, 0.0, 1.0, False, None),
    },
    "delay": {
        "delay_seconds": EffectParameter(0.5, 0.0, 30.0, False, "s"),
        "feedback": EffectParameter(0.0, 0.0, 1.0, False, None),
        "mix": EffectParameter(0.5, 0.0, 1.0, False, None),
    },
    "chorus": {
        "rate_hz": EffectParameter(1.0, 0.0, 100.0, True, "Hz"),
        "depth": EffectParameter(0.25, 0.0, 1.0, False, None),
        "centre_delay_ms": EffectParameter(7.0, 1.0, 100.0, False, "ms"),
        "feedback": EffectParameter(0.0, -1.0, 1.0, False, None),
        "mix": EffectParameter(0.5, 0.0, 1.0, False, None),
    },
    "phaser": {
        "rate_hz": EffectParameter(1.0, 0.0, 100.0, True, "Hz"),
        "depth": EffectParameter(0.5, 0.0, 1.0, False, None),
        "centre_frequency_hz": EffectParameter(1300.0, 1.0, 96000.0, False, "Hz"),
        "feedback": EffectParameter(0.0, -1.0, 1.0, False, None),
        "mix": EffectParameter(0.5, 0.0, 1.0, False, None),
    },
    "distortion": {
        "drive_db": EffectParameter(25.0, 0.0, 100.0, False, "dB"),
    },
    "compressor": {
        "threshold_db": EffectParameter(0.0, -60.0, 0.0, False, "dB"),
        "ratio": EffectParameter(1.0, 1.0, 100.0, False, None),
        "attack_ms": EffectParameter(1.0, 0.01, 1000.0, False, "ms"),
        "release_ms": EffectParameter(100.0, 1.0, 5000.0, False, "ms"),
    },
    "limiter": {
        "threshold_db": EffectParameter(-10.0, -60.0, 0.0, False, "dB"),
        "release_ms": EffectParameter(100.0, 1.0, 5000.0, False, "ms"),
    },
    "noise_gate": {
        "threshold_db": EffectParameter(-100.0, -100.0, 0.0, False, "dB"),
        "ratio": EffectParameter(10.0, 1.0, 100.0, False, None),
        "attack_ms": EffectParameter(1.0, 0.01, 1000.0, False, "ms"),
        "release_ms": EffectParameter(100.0, 1.0, 5000.0, False, "ms"),
    },
    "highpass_filter": {
        "cutoff_frequency_hz": EffectParameter(50.0, 1.0, 96000.0, False, "Hz"),
    },
    "lowpass_filter": {
        "cutoff_frequency_hz": EffectParameter(50.0, 1.0, 96000.0, False, "Hz"),
    },
    "high_shelf_filter": {
        "cutoff_frequency_hz": EffectParameter(440.0, 1.0, 96000.0, False, "Hz"),
        "gain_db": EffectParameter(0.0, -48.0, 48.0, False, "dB"),
        "q": EffectParameter(0.7071067690849304, 0.05, 20.0, False, None),
    },
    "low_shelf_filter": {
        "cutoff_frequency_hz": EffectParameter(440.0, 1.0, 96000.0, False, "Hz"),
        "gain_db": EffectParameter(0.0, -48.0, 48.0, False, "dB"),
        "q": EffectParameter(0.7071067690849304, 0.05, 20.0, False, None),
    },
    "peak_filter": {
        "cutoff_frequency_hz": EffectParameter(440.0, 1.0, 96000.0, False, "Hz"),
        "gain_db": EffectParameter(0.0, -48.0, 48.0, False, "dB"),
        "q": EffectParameter(0.7071067690849304, 0.05, 20.0, False, None),
    },
    "pitch_shift": {
        "semitones": EffectParameter(0.0, -72.0, 72.0, False, None),
    },
    "bitcrush": {
        "bit_depth": EffectParameter(8.0, 0.0, 32.0, False, None),
    },
    "clipping": {
        "threshold_db": EffectParameter(-6.0, -60.0, 0.0, False, "dB"),
    },
    "invert": {},
}
NOT_LIVE_EFFECTS: tuple[str, ...] = ("pitch_shift",)
