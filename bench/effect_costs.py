"""The CPU cost of each effect per sample, measured with the effects worker's own chain code,
beside the figures `cadenza.contracts.effect_costs` estimates jobs with (which must not be
lower: an estimate refuses chains too heavy for their audio before they run).

.venv/bin/python -m bench.effect_costs
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import TypeAdapter

from bench.common import machine, save
from cadenza.contracts.effect_chain import EFFECT_TYPES, EffectChain
from cadenza.contracts.effect_costs import block_frames_for, chain_cpu_seconds
from cadenza.effects.chain import ChainProcessor

CHAIN = TypeAdapter(EffectChain)
FORMATS = ((48_000, 2), (192_000, 8), (8_000, 1))


def measure(effect: str, rate: int, channels: int) -> float:
    """CPU nanoseconds per sample of four of `effect` in a row, on worker-sized blocks."""
    params = {"semitones": 5} if effect == "pitch_shift" else {}
    processor = ChainProcessor(CHAIN.validate_python([{"type": effect, **params}] * 4), rate)
    frames = block_frames_for(channels)
    block = np.random.default_rng(0).standard_normal((channels, frames)).astype(np.float32) * 0.1
    processor.process(block)  # warm up (and prime the pitch shifter's context)
    started = time.process_time()
    for _ in range(3):
        processor.process(block)
    return (time.process_time() - started) / 3 / 4 / (frames * channels) * 1e9


def main() -> None:
    rows = []
    for effect in EFFECT_TYPES:
        measured = [measure(effect, rate, channels) for rate, channels in FORMATS]
        params = {"semitones": 5} if effect == "pitch_shift" else {}
        chain = CHAIN.validate_python([{"type": effect, **params}])
        estimate = [
            chain_cpu_seconds(chain, 1_000_000, ch, rate, block_frames_for(ch)) / ch * 1e3
            for rate, ch in FORMATS
        ]
        rows.append({"effect": effect, "measured_ns": measured, "estimate_ns": estimate})
        print(
            f"{effect:18s} measured "
            + "  ".join(f"{m:7.1f}" for m in measured)
            + "   estimate "
            + "  ".join(f"{e:7.1f}" for e in estimate)
            + " ns/sample",
            flush=True,
        )
    save("effect_costs", {"machine": machine(), "formats": FORMATS, "effects": rows})


if __name__ == "__main__":
    main()
