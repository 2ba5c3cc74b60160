"""Composing: models learnt from the sources (in the target key), then the chords and the
melody phrase by phrase, each phrase checked against the sources before it is kept."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cadenza.composition.engine.form import Phrase, Section, Style, phrases_of, plan_sections
from cadenza.composition.engine.harmony import Harmony
from cadenza.composition.engine.markov import NGramModel, Tally, Temper
from cadenza.composition.engine.melody import MelodyWriter, Note
from cadenza.composition.engine.originality import LIMIT, OriginalityGuard
from cadenza.composition.engine.sources import SourceMaterial, chords_in, melody_in
from cadenza.composition.engine.theory import Chord, Key
from cadenza.composition.engine.units import BAR_UNITS

MAX_REDRAWS = 12  # fresh draws of a phrase that copies, before its notes are changed
MAX_MODEL_LEAP = 12  # larger skyline jumps are voice changes, not melody: not learnt


@dataclass
class Composition:
    key: Key
    sections: list[Section]
    phrases: list[Phrase]
    chords: list[Chord]  # one per bar
    melody: list[Note]
    sung: list[tuple[int, int]]  # per melody phrase: its [first, last + 1) note indices
    guard: OriginalityGuard
    tallies: dict[str, Tally]
    phrases_regenerated: int = 0
    redraws: int = 0
    notes_changed: int = 0
    writer: MelodyWriter | None = field(default=None, repr=False)

    def alternatives(self, note: Note) -> list[int]:
        """Pitches a melody note could take instead (for the guard's repairs)."""
        assert self.writer is not None
        piece_end = note.cadence and note.end == len(self.chords) * BAR_UNITS
        chord = self.chords[note.start // BAR_UNITS]
        return self.writer.alternatives(note, chord, piece_end=piece_end)


def comparison_lines(
    materials: Sequence[SourceMaterial], key: Key
) -> list[tuple[tuple[int, int], ...]]:
    """Every source line the guard compares against, in the target key: the skyline and
    each part's top voice, with major/minor degrees mapped and (when the modes differ) not."""
    lines = []
    for m in materials:
        for line in (m.melody, *m.part_lines):
            lines.append(melody_in(line, m.key, key))
            if m.key.mode != key.mode:
                lines.append(melody_in(line, m.key, key, map_mode=False))
    return lines


def compose(
    materials: Sequence[SourceMaterial],
    key: Key,
    bars: int,
    style: Style,
    temper: Temper,
    creativity: float,
    rng: np.random.Generator,
) -> Composition:
    n = len(materials)
    chord_model: NGramModel[Chord] = NGramModel(n)
    interval_model: NGramModel[int] = NGramModel(n)
    rhythm_model: NGramModel[int] = NGramModel(n)
    for i, m in enumerate(materials):
        chord_model.fit(i, chords_in(m, key))
        line = melody_in(m.melody, m.key, key)
        for run in _runs_without_leaps([p for p, _ in line]):
            interval_model.fit(i, [b - a for a, b in itertools.pairwise(run)])
        rhythm_model.fit(i, [d for _, d in line])

    sections = plan_sections(bars, style)
    phrases = phrases_of(sections)
    tallies = {name: Tally(n) for name in ("chords", "melody_intervals", "melody_rhythm")}
    harmony = Harmony(chord_model, key, temper, tallies["chords"])
    piece = Composition(
        key=key,
        sections=sections,
        phrases=phrases,
        chords=[],
        melody=[],
        sung=[],
        guard=OriginalityGuard(comparison_lines(materials, key)),
        tallies=tallies,
        writer=MelodyWriter(interval_model, rhythm_model, key, temper),
    )
    originals = _first_instances(sections, phrases)
    for p, phrase in enumerate(phrases):
        section = sections[phrase.section]
        model = originals.get(p)
        if model is not None:  # a repeated verse or chorus keeps its harmony
            piece.chords += piece.chords[model.start_bar : model.start_bar + model.bars]
            continue
        within = [q for q in phrases if q.section == phrase.section].index(phrase)
        authentic = phrase.last_in_section and section.name != "intro"
        if not phrase.last_in_section and rng.random() < 0.5:
            authentic = True
        piece.chords += harmony.phrase(
            rng, piece.chords, phrase.bars, section_start=within == 0,
            cadence="authentic" if authentic else "half",
        )  # fmt: skip

    redraw_share = 0.35 + 0.3 * creativity
    phrase_notes: dict[int, list[Note]] = {}
    for p, phrase in enumerate(phrases):
        if sections[phrase.section].name == "intro":
            continue  # the intro is the band's alone
        model = originals.get(p)
        template = None
        redraw = None
        if model is not None and phrases.index(model) in phrase_notes:
            template = _by_bar(phrase_notes[phrases.index(model)], model)
            redraw = [bool(rng.random() < redraw_share) for _ in range(phrase.bars)]
            if not any(redraw):
                redraw[int(rng.integers(phrase.bars))] = True  # a variation, not a copy
            if p == len(phrases) - 1:
                redraw[-1] = True  # the piece's last note is the tonic, drawn so
        notes = _guarded_phrase(piece, rng, phrase, p == len(phrases) - 1, template, redraw)
        phrase_notes[p] = notes
        piece.sung.append((len(piece.melody), len(piece.melody) + len(notes)))
        piece.melody += notes
    return piece


def _guarded_phrase(
    piece: Composition,
    rng: np.random.Generator,
    phrase: Phrase,
    piece_end: bool,
    template: list[list[Note]] | None,
    redraw: list[bool] | None,
) -> list[Note]:
    assert piece.writer is not None
    chords = piece.chords[phrase.start_bar : phrase.start_bar + phrase.bars]
    tail = piece.melody[-LIMIT:]
    for attempt in range(MAX_REDRAWS):
        notes, intervals, rhythm = piece.writer.phrase(
            rng, piece.melody, phrase.start_bar, chords,
            piece_end=piece_end, template=template, redraw=redraw,
        )  # fmt: skip
        if not piece.guard.copied_windows([*tail, *notes], first=len(tail)):
            break
        piece.redraws += 1
        if attempt == 0:
            piece.phrases_regenerated += 1
    else:  # still copying: change notes of the last draw until it does not
        combined = [*tail, *notes]
        piece.notes_changed += piece.guard.repair(combined, len(tail), piece.alternatives)
        notes = combined[len(tail) :]
    piece.tallies["melody_intervals"].merge(intervals)
    piece.tallies["melody_rhythm"].merge(rhythm)
    return notes


def _first_instances(sections: list[Section], phrases: list[Phrase]) -> dict[int, Phrase]:
    """For each phrase of a repeated section, the same phrase of the section's first instance
    (when that has as many bars)."""
    first: dict[str, int] = {}
    for index, section in enumerate(sections):
        first.setdefault(section.name, index)
    originals = {}
    for p, phrase in enumerate(phrases):
        section = sections[phrase.section]
        origin = first[section.name]
        if origin == phrase.section:
            continue
        mine = [q for q in phrases if q.section == phrase.section]
        theirs = [q for q in phrases if q.section == origin]
        position = mine.index(phrase)
        if position < len(theirs) and theirs[position].bars == phrase.bars:
            originals[p] = theirs[position]
    return originals


def _by_bar(notes: list[Note], phrase: Phrase) -> list[list[Note]]:
    bars: list[list[Note]] = [[] for _ in range(phrase.bars)]
    for n in notes:
        bars[n.start // BAR_UNITS - phrase.start_bar].append(n)
    return bars


def _runs_without_leaps(pitches: list[int]) -> list[list[int]]:
    runs: list[list[int]] = [[]]
    for p in pitches:
        if runs[-1] and abs(p - runs[-1][-1]) > MAX_MODEL_LEAP:
            runs.append([])
        runs[-1].append(p)
    return [r for r in runs if len(r) > 1]
