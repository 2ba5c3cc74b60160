"""Which tokens may come next: the encoding's grammar as a mask for sampling.

The model learns the grammar too, but a sampled piece must never be malformed whatever the
temperature, so every draw is masked to the tokens that keep the sequence a piece: a bar
holds positions in increasing order inside the bar, each position voices in increasing order
(each voice one note), each pitch its duration. A bar budget ends the piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from cadenza.composition.learned.tokens import (
    BAR,
    EOS,
    HIGHEST_PITCH,
    LOWEST_PITCH,
    MAX_BAR_STEPS,
    MAX_DURATION,
    MAX_VOICES,
    token_id,
    vocabulary,
)


@cache
def _ids() -> dict[str, np.ndarray]:
    return {
        "pos": np.array([token_id(f"POS:{p}") for p in range(MAX_BAR_STEPS)]),
        "duration": np.array([token_id(f"D:{d}") for d in range(1, MAX_DURATION + 1)]),
        "pitch": np.array(
            [[token_id(f"P{v}:{p}") for p in range(LOWEST_PITCH, HIGHEST_PITCH + 1)]
             for v in range(MAX_VOICES)]
        ),
    }  # fmt: skip


@dataclass
class GrammarState:
    """Where a sequence is, for the next token's mask (start it after the header)."""

    bar_steps: int
    voices: int
    bars_left: int  # BARs still allowed; at 0, the piece can only end
    position: int = -1  # in the current bar; -1 before its first position
    voice: int = -1  # the last voice at this position
    # "bar": only BAR; "pitch": a pitch (just after a POS); "duration"; "body": BAR, a later
    # POS, a higher voice's pitch or EOS; "end": nothing more.
    expect: str = "bar"
    ranges: list[tuple[int, int]] = field(default_factory=list)  # per voice: lowest, highest

    def mask(self) -> np.ndarray:
        ids = _ids()
        allowed = np.zeros(len(vocabulary()), dtype=bool)
        if self.expect == "duration":
            allowed[ids["duration"]] = True
        elif self.expect == "bar":
            allowed[token_id(BAR) if self.bars_left > 0 else token_id(EOS)] = True
        elif self.expect in ("pitch", "body"):
            voices = range(self.voice + 1, self.voices) if self.position >= 0 else range(0)
            for v in voices:
                low, high = self.ranges[v] if self.ranges else (LOWEST_PITCH, HIGHEST_PITCH)
                allowed[ids["pitch"][v, low - LOWEST_PITCH : high - LOWEST_PITCH + 1]] = True
            if self.expect == "body":
                allowed[token_id(BAR) if self.bars_left > 0 else token_id(EOS)] = True
                allowed[ids["pos"][self.position + 1 : self.bar_steps]] = True
        return allowed

    def advance(self, token: int) -> None:
        w = vocabulary()[token]
        if w == BAR:
            self.bars_left -= 1
            self.position, self.voice, self.expect = -1, -1, "body"
        elif w.startswith("POS:"):
            self.position, self.voice, self.expect = int(w[4:]), -1, "pitch"
        elif w.startswith("P"):
            self.voice = int(w[1 : w.index(":")])
            self.expect = "duration"
        elif w.startswith("D:"):
            self.expect = "body"
        elif w == EOS:
            self.expect = "end"
