"""What an effect chain costs before it runs: CPU time per sample, and working memory.

Measured on the reference machine (2 cores, pedalboard 0.9) with the effects worker's own
code (`python -m bench.effect_costs` measures them again beside these figures), then
rounded up: an estimate that
refuses a chain too heavy for its audio before any work starts. The worker measures what a
job really uses and stops one that runs past its allowance (cadenza.contracts.limits).
"""

from __future__ import annotations

from collections.abc import Sequence

from cadenza.contracts.effect_chain import Chorus, Delay, Effect, PitchShift
from cadenza.contracts.limits import describe_bytes

# CPU nanoseconds per sample (frame × channel), per plugin.
NS_PER_SAMPLE: dict[str, float] = {
    "gain": 1.0,
    "reverb": 30.0,
    "delay": 12.0,
    "chorus": 15.0,
    "phaser": 60.0,
    "distortion": 22.0,
    "compressor": 8.0,
    "limiter": 22.0,
    "noise_gate": 8.0,
    "highpass_filter": 4.0,
    "lowpass_filter": 4.0,
    "high_shelf_filter": 5.0,
    "low_shelf_filter": 5.0,
    "peak_filter": 5.0,
    # Per sample shifted: each block is shifted with half a second of context on either side
    # (cadenza.effects.chain.OverlapPitchShift), see `pitch_shift_factor`.
    "pitch_shift": 500.0,
    "bitcrush": 1.0,
    "clipping": 1.0,
    "invert": 1.0,
}
# Seconds of audio around each block that the pitch shifter processes again.
PITCH_SHIFT_CONTEXT_S = 0.5
FLOAT_BYTES = 4
# The effects worker's blocks hold at most this many samples, so one block through a long
# chain stays short (cancellation and CPU checks happen between blocks and stages).
BLOCK_SAMPLES = 1 << 18
DEFAULT_BLOCK_FRAMES = 1 << 16
# Copies of a block a stage holds at once (input, output, pedalboard's own buffers).
BLOCK_COPIES = 4


def block_frames_for(channels: int, configured: int = DEFAULT_BLOCK_FRAMES) -> int:
    """Frames per block for audio of `channels` channels."""
    return max(1024, min(configured, BLOCK_SAMPLES // max(channels, 1)))


def pitch_shift_factor(sample_rate: int, block_frames: int) -> float:
    """Samples the pitch shifter processes per sample of audio: each block again with its
    context on either side (at 192 kHz in 8 channels, blocks of 32,768 frames: 6.9×)."""
    return (block_frames + 2 * PITCH_SHIFT_CONTEXT_S * sample_rate) / block_frames


def chain_cpu_seconds(
    chain: Sequence[Effect], frames: int, channels: int, sample_rate: int, block_frames: int
) -> float:
    """Estimated CPU seconds to run `chain` over `frames` × `channels` samples in blocks of
    `block_frames`."""
    per_sample = sum(
        NS_PER_SAMPLE[effect.type]
        * (pitch_shift_factor(sample_rate, block_frames) if effect.type == "pitch_shift" else 1.0)
        for effect in chain
    )
    return per_sample * frames * channels / 1e9


def plugin_memory_bytes(effect: Effect, sample_rate: int, channels: int, block_frames: int) -> int:
    """What one plugin keeps besides the block: delay lines and the pitch shifter's
    segments (measured: a Delay holds delay_seconds × rate × channels floats)."""
    if isinstance(effect, Delay):
        return int(effect.delay_seconds * sample_rate * channels * FLOAT_BYTES)
    if isinstance(effect, Chorus):
        return int(0.1 * sample_rate * channels * FLOAT_BYTES)
    if isinstance(effect, PitchShift):
        segment = block_frames + 2 * int(PITCH_SHIFT_CONTEXT_S * sample_rate)
        return segment * channels * FLOAT_BYTES * BLOCK_COPIES + 8 * 1024 * 1024
    return 64 * 1024


def chain_memory_bytes(
    chain: Sequence[Effect], sample_rate: int, channels: int, block_frames: int
) -> int:
    """Estimated working memory of `chain` processing blocks of `block_frames`."""
    blocks = block_frames * channels * FLOAT_BYTES * BLOCK_COPIES
    return blocks + sum(
        plugin_memory_bytes(effect, sample_rate, channels, block_frames) for effect in chain
    )


def memory_problem(
    chain: Sequence[Effect], sample_rate: int, channels: int, block_frames: int, limit: int
) -> tuple[int, str] | None:
    """None if `chain` fits in `limit` bytes of working memory; else (the index of the plugin
    that needs the most, a sentence naming it, the need and the limit)."""
    needs = chain_memory_bytes(chain, sample_rate, channels, block_frames)
    if needs <= limit:
        return None
    _, index = max(
        (plugin_memory_bytes(effect, sample_rate, channels, block_frames), index)
        for index, effect in enumerate(chain)
    )
    return index, (
        f"the chain needs about {describe_bytes(needs)} of working memory at {sample_rate} Hz "
        f"in {channels} channels (most of it for its {chain[index].type} at position {index}),"
        f" over the limit of {describe_bytes(limit)}"
    )
