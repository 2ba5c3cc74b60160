"""Chord progressions, a chord per bar, drawn from the pooled chord model under cadence rules:
a section starts on the tonic or a close relative (IV, vi; in minor iv, VI), a phrase ends
on a cadence (authentic V–I or plagal IV–I; in minor V or v → i), or on V (a half cadence)
when another phrase of the section follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cadenza.composition.engine.markov import NGramModel, Tally, Temper
from cadenza.composition.engine.theory import Chord, Key, map_chord, tonic_chord

Cadence = Literal["authentic", "half"]


@dataclass
class Harmony:
    model: NGramModel[Chord]
    key: Key
    temper: Temper
    tally: Tally

    def __post_init__(self) -> None:
        mode = self.key.mode
        self.tonic = tonic_chord(mode)
        self.subdominant = Chord(5, "maj" if mode == "major" else "min")
        self.dominants = [Chord(7, "maj"), Chord(7, "7")]
        if mode == "minor":
            self.dominants.append(Chord(7, "min"))
        self.starts = [self.tonic, self.subdominant, map_chord(Chord(9, "min"), "major", mode)]
        special = [self.tonic, self.subdominant, *self.dominants, *self.starts]
        self.vocabulary = sorted(set(self.model.vocabulary()) | set(special))
        diatonic = {map_chord(Chord(r, q), "major", mode) for r, q in _MAJOR_DIATONIC}
        # Wandering prefers the key's own chords to chromatic ones.
        self.free_prior = [1.0 if c in diatonic else 0.3 for c in self.vocabulary]

    def phrase(
        self,
        rng: np.random.Generator,
        history: Sequence[Chord],
        bars: int,
        *,
        section_start: bool,
        cadence: Cadence,
    ) -> list[Chord]:
        """`bars` chords continuing `history`, ending on the cadence."""
        chords: list[Chord] = []
        for bar in range(bars):
            context = [*history, *chords]
            from_end = bars - bar
            if from_end == 1 and cadence == "authentic":
                chords.append(self.tonic)  # the goal itself is not drawn
                continue
            if from_end == 1:
                options, prior = self.dominants, [0.6, 0.3, 0.1][: len(self.dominants)]
            elif from_end == 2 and cadence == "authentic" and bar == 0 and section_start:
                options, prior = [self.subdominant], [1.0]  # a two-bar section: IV–I
            elif from_end == 2 and cadence == "authentic":
                options = [*self.dominants, self.subdominant]
                prior = [*[0.45, 0.25, 0.05][: len(self.dominants)], 0.25]
            elif bar == 0 and section_start:
                options, prior = self.starts, [0.6, 0.2, 0.2]
            else:
                previous = context[-1] if context else None
                pairs = [(c, w) for c, w in zip(self.vocabulary, self.free_prior, strict=True)
                         if c != previous]  # fmt: skip
                options, prior = [c for c, _ in pairs], [w for _, w in pairs]
            draw = self.model.draw(rng, context, options, self.temper, prior)
            self.tally.add(draw)
            chords.append(draw.token)
        return chords


_MAJOR_DIATONIC = (
    (0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"), (11, "dim"),
    (0, "maj7"), (2, "m7"), (4, "m7"), (5, "maj7"), (7, "7"), (9, "m7"),
)  # fmt: skip
