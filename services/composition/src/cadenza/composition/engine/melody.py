"""Melody phrases drawn from the pooled interval and rhythm models.

Rhythm comes first, bar by bar: durations are drawn until the bar is full (only values that
fit are candidates), and a phrase's last bar ends on a long note. Then each note's interval
from the one before is drawn among the pitches the harmony allows: on beats 1 and 3 a tone
of the bar's chord, elsewhere any tone of the key's scale (so passing and neighbour tones
come from the sources' own intervals), always inside the melody's range. The phrase's last
note is a chord tone, the piece's last the tonic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cadenza.composition.engine.markov import NGramModel, Tally, Temper
from cadenza.composition.engine.theory import Chord, Key
from cadenza.composition.engine.units import BAR_UNITS, DURATIONS, is_strong

MELODY_RANGE = (60, 81)  # C4..A5: a singable range
MAX_LEAP = 12
TESSITURA_CENTRE, TESSITURA_WIDTH = 70.0, 7.0  # where the melody likes to be, and how much
_RHYTHM_PRIOR = {2: 0.3, 4: 1.0, 6: 0.3, 8: 1.0, 12: 0.5, 16: 0.6, 24: 0.3, 32: 0.2}
_FINAL_LENGTHS = ((16, 0.5), (24, 0.2), (32, 0.3))  # a phrase ends on a half note or longer


@dataclass(frozen=True)
class Note:
    start: int  # units from the start of the piece
    duration: int  # units
    pitch: int
    cadence: bool = False  # a phrase's last note: kept when notes are changed later

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass
class MelodyWriter:
    intervals: NGramModel[int]
    rhythm: NGramModel[int]
    key: Key
    temper: Temper

    def phrase(
        self,
        rng: np.random.Generator,
        previous: Sequence[Note],
        start_bar: int,
        chords: Sequence[Chord],
        *,
        piece_end: bool,
        template: Sequence[Sequence[Note]] | None = None,
        redraw: Sequence[bool] | None = None,
    ) -> tuple[list[Note], Tally, Tally]:
        """A phrase over `chords` (one per bar) starting at `start_bar`, continuing
        `previous` (the melody so far). With a `template` (an earlier phrase's bars), only the
        bars marked in `redraw` are drawn anew and the others are copied: a variation.
        Returns the notes and the interval and rhythm draws' tallies."""
        n_sources = self.intervals.n_sources
        interval_tally, rhythm_tally = Tally(n_sources), Tally(n_sources)
        notes: list[Note] = []
        durations = [n.duration for n in previous[-4:]]
        for bar, chord in enumerate(chords):
            bar_start = (start_bar + bar) * BAR_UNITS
            last_bar = bar == len(chords) - 1
            if template is not None and redraw is not None and not redraw[bar]:
                shift = bar_start - (template[bar][0].start // BAR_UNITS) * BAR_UNITS
                notes += [replace(n, start=n.start + shift) for n in template[bar]]
                durations += [n.duration for n in template[bar]]
                continue
            lengths = self._bar_rhythm(rng, durations, last_bar, piece_end, rhythm_tally)
            durations += lengths
            onset = bar_start
            for i, length in enumerate(lengths):
                cadence = last_bar and i == len(lengths) - 1
                pcs = self._allowed(chord, onset, cadence=cadence, piece_end=piece_end)
                before = [*previous, *notes]
                pitch = self._pitch(rng, before, pcs, interval_tally)
                notes.append(Note(onset, length, pitch, cadence))
                onset += length
        return notes, interval_tally, rhythm_tally

    def alternatives(self, note: Note, chord: Chord, *, piece_end: bool) -> list[int]:
        """Other pitches the note could have under the same rules, nearest first."""
        pcs = self._allowed(chord, note.start, cadence=note.cadence, piece_end=piece_end)
        low, high = MELODY_RANGE
        options = [p for p in range(low, high + 1) if p % 12 in pcs and p != note.pitch]
        return sorted(options, key=lambda p: (abs(p - note.pitch), p))

    def _allowed(self, chord: Chord, onset: int, *, cadence: bool, piece_end: bool) -> set[int]:
        tones = set(chord.pitch_classes(self.key))
        scale = set(self.key.melody_scale())
        if self.key.mode == "minor":  # the leading tone only over a chord that has it
            leading = (self.key.tonic + 11) % 12
            scale.discard((self.key.tonic + 10) % 12 if leading in tones else leading)
        if cadence and piece_end:
            return {self.key.tonic}
        if cadence or is_strong(onset):
            return (tones & scale) or tones
        return scale

    def _pitch(
        self, rng: np.random.Generator, before: Sequence[Note], pcs: set[int], tally: Tally
    ) -> int:
        low, high = MELODY_RANGE
        if not before:  # the melody's first note: near the middle of the range
            options = [p for p in range(64, 75) if p % 12 in pcs] or [
                p for p in range(low, high + 1) if p % 12 in pcs
            ]
            return options[int(rng.integers(len(options)))]
        last = before[-1].pitch
        pitches = [p for p in range(max(low, last - MAX_LEAP), min(high, last + MAX_LEAP) + 1)
                   if p % 12 in pcs]  # fmt: skip
        if not pitches:  # the range edge cut every option: the nearest allowed pitch
            pitches = [min((p for p in range(low, high + 1) if p % 12 in pcs),
                           key=lambda p: (abs(p - last), p))]  # fmt: skip
        steps = [p - last for p in pitches]
        history = [b.pitch - a.pitch for a, b in zip(before[-4:], before[-3:], strict=False)]
        prior = [float(np.exp(-abs(s) / 2.5)) for s in steps]
        # The melody leans to the middle of its range and avoids a fourth repeated note.
        repeating = len(history) >= 2 and history[-1] == history[-2] == 0
        bias = [
            float(np.exp(-0.5 * ((p - TESSITURA_CENTRE) / TESSITURA_WIDTH) ** 2))
            * (0.25 if repeating and p == last else 1.0)
            for p in pitches
        ]
        draw = self.intervals.draw(rng, history, steps, self.temper, prior, bias)
        tally.add(draw)
        return last + draw.token

    def _bar_rhythm(
        self,
        rng: np.random.Generator,
        history: list[int],
        last_bar: bool,
        piece_end: bool,
        tally: Tally,
    ) -> list[int]:
        final = 0
        if last_bar:
            lengths, weights = zip(*_FINAL_LENGTHS, strict=True)
            p = np.array(weights) / sum(weights)
            final = BAR_UNITS if piece_end else int(lengths[int(rng.choice(len(p), p=p))])
        out: list[int] = []
        remaining = BAR_UNITS - final
        while remaining > 0:
            options = [d for d in DURATIONS if d <= remaining]
            prior = [_RHYTHM_PRIOR[d] for d in options]
            draw = self.rhythm.draw(rng, [*history, *out], options, self.temper, prior)
            tally.add(draw)
            out.append(draw.token)
            remaining -= draw.token
        return [*out, final] if final else out
