"""The learned engine's originality guard, with a quote planted in what the model draws: a
source's phrase, transposed and re-rhythmed, is caught, the phrase is drawn again, and when
every draw quotes, notes are moved until none does."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cadenza.composition.learned.analysis import MAJOR_SCALE, MINOR_SCALE
from cadenza.composition.learned.compose import MAX_BATCHES, Prompt, compose
from cadenza.composition.learned.form import plan_form
from cadenza.composition.learned.grammar import GrammarState
from cadenza.composition.learned.model import Composer, ModelConfig
from cadenza.composition.learned.quotes import LIMIT, QuoteIndex
from cadenza.composition.learned.sampler import Draw, Sampler
from cadenza.composition.learned.tokens import Note, encode_bars, header, vocabulary

# The source's phrase: ten notes in quarters (sixteenths: 4).
SOURCE = [(62, 4), (64, 4), (66, 4), (67, 4), (69, 4), (71, 4), (69, 4), (67, 4), (66, 4), (64, 4)]
ORIGINAL = [60, 67, 65, 72, 64, 62, 71, 60, 69, 64, 67, 60]  # a line that quotes nothing


def _bars(pitches: Sequence[int], rhythm: Sequence[int]) -> list[int]:
    notes, at = [], 0
    for pitch, duration in zip(pitches, rhythm, strict=False):
        notes.append(Note(at, 0, pitch, duration))
        at += duration
    return encode_bars(notes, 16, first_bar=0, bars=4)


class PlantedSampler(Sampler):
    """Plays back scripted draws instead of sampling (the quote planted in the first)."""

    def __init__(self, draws: list[list[int]]) -> None:
        model = Composer(
            ModelConfig(vocabulary=len(vocabulary()), context=64, width=8, layers=1, heads=1)
        )
        super().__init__(
            model, style_mix=None, temperature=1.0, top_p=1.0, rng=np.random.default_rng(0)
        )
        self.draws = draws
        self.calls = 0

    def candidates(self, prompt: Sequence[int], states: list[GrammarState]) -> list[Draw | None]:
        tokens = self.draws[min(self.calls, len(self.draws) - 1)]
        self.calls += 1
        state = states[0]
        for token in tokens:
            assert state.mask()[token], vocabulary()[token]
            state.advance(token)
        return [Draw(tokens, -1.0 * len(tokens))]


def _compose(draws: list[list[int]]) -> tuple[list[Note], dict[str, int], int, QuoteIndex]:
    index = QuoteIndex([SOURCE], ["the source (voice 1)"])
    sampler = PlantedSampler(draws)
    notes, report = compose(
        sampler, Prompt(header("tune", (4, 4), "major", 1), []), plan_form("tune", 4, False),
        meter_steps=16, voices=1, mode="major", sources_index=index, corpus_index=None,
    )  # fmt: skip
    return notes, report.redrawn_for, report.draws, index


# The quote moved down a tone and re-rhythmed: long-short pairs instead of even quarters.
QUOTE = _bars([p - 2 for p, _ in SOURCE] + [60, 60], [6, 2] * 5 + [8, 8])


def test_a_planted_quote_with_its_rhythm_changed_is_caught_and_drawn_again() -> None:
    honest = _bars(ORIGINAL, [4] * 11 + [20])
    notes, redrawn, draws, index = _compose([QUOTE, honest])
    assert draws == 2 and redrawn["quotes"] == 1
    line = [(n.pitch, n.duration) for n in notes]
    assert index.longest(line, "pitches").notes <= LIMIT
    assert [n.pitch for n in notes[:-1]] == ORIGINAL[:-1]
    assert notes[-1].pitch % 12 == 0  # the authentic cadence's tonic


def test_when_every_draw_quotes_notes_are_moved_until_none_does() -> None:
    notes, redrawn, draws, index = _compose([QUOTE])
    assert draws == MAX_BATCHES and redrawn["quotes"] == MAX_BATCHES
    line = [(n.pitch, n.duration) for n in notes]
    assert index.copies(line) == []
    # Moved to neighbouring tones of the scale, never to a chromatic note.
    assert all(n.pitch % 12 in MAJOR_SCALE for n in notes)
    assert (
        sum(
            a != b
            for a, b in zip([n.pitch for n in notes], [p - 2 for p, _ in SOURCE], strict=False)
        )
        >= 1
    )


def test_a_quote_is_broken_with_tones_of_the_scale_not_chromatic_neighbours() -> None:
    from cadenza.composition.learned.compose import _unquote

    major = [60, 62, 64, 65, 67, 65, 64, 62, 60, 62, 64, 65]  # its middle note is E
    minor = [p - 1 if p % 12 == 4 else p for p in major]  # and here E flat
    for mode, scale, pitches in (("major", MAJOR_SCALE, major), ("minor", MINOR_SCALE, minor)):
        index = QuoteIndex([[(p, 4) for p in pitches]], ["the source (voice 1)"])
        line = [Note(4 * i, 0, p, 4) for i, p in enumerate(pitches)]
        unquoted, moved = _unquote(line, 0, [index], mode)
        assert moved >= 1
        assert index.copies([(n.pitch, n.duration) for n in unquoted]) == []
        assert all(n.pitch % 12 in scale for n in unquoted)
        assert all(abs(a.pitch - b.pitch) <= 4 for a, b in zip(line, unquoted, strict=True))
