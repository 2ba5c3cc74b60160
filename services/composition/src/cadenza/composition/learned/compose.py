"""Composing with the learned model: the form's phrases drawn one after another, each prompted with
the piece so far (the opening ones with bars of one of the sources too), checked and, when it
fails a check, drawn again. Two continuations are drawn at once; the best is kept (fewest
faults, then likeliest): a phrase should end with the cadence the form asks for, move its outer
voices in no parallel fifths or octaves, and copy no run of more than LIMIT notes (with or
without its rhythm) from any source or from the training corpus. A quote of a source, a weak
cadence or parallels mean another batch (while the phrase's and the piece's budgets last); a run
the kept draw still shares (most often with some corpus work: ordinary lines are in 2.5 million
notes) is broken by moving its notes to a neighbouring tone of the scale, the middle first,
while that shortens what is copied. Each draw's cadence is made sure before it is checked: at an
authentic cadence the outer voices' last notes move to the nearest tonic (and the inner voices
to the tonic triad), at a half cadence the bass to the dominant, each held to the phrase's end;
a draw whose last notes cannot be held there (nothing sounds at the phrase's end) counts as a
cadence fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import zip_longest

from cadenza.composition.learned.analysis import MAJOR_SCALE, MINOR_SCALE, parallel_perfects
from cadenza.composition.learned.form import Phrase, Plan
from cadenza.composition.learned.grammar import GrammarState
from cadenza.composition.learned.quotes import LIMIT, Quote, QuoteIndex
from cadenza.composition.learned.sampler import Sampler
from cadenza.composition.learned.tokens import (
    MAX_DURATION as MAX_NOTE,
)
from cadenza.composition.learned.tokens import (
    Note,
    decode_body,
    encode_bars,
    vocabulary,
)
from cadenza.composition.learned.voice_leading import mend_parallels

CANDIDATES = 2  # drawn at once for each phrase, one row each of a batch
MAX_BATCHES = 3  # per phrase
SPARE_BATCHES = 12  # batches a whole piece may spend beyond one per phrase (bounds its CPU)
CADENCE_REACH = 6  # semitones a final note may move to land on the cadence's pitch (any)
PROMPT_SOURCE_BARS = 4
VOICE_RANGES = {  # in C: soprano, alto, tenor, bass; a tune
    4: [(60, 81), (53, 74), (48, 69), (36, 62)],
    3: [(60, 81), (50, 72), (36, 62)],
    2: [(55, 84), (36, 64)],
    1: [(55, 91)],
}


@dataclass
class Faults:
    quotes: int = 0  # runs copied from a source
    memorised: int = 0  # runs found in the training corpus
    cadence: int = 0
    parallels: int = 0

    @property
    def copies(self) -> int:
        return self.quotes + self.memorised

    @property
    def total(self) -> float:
        return 4.0 * (self.quotes + self.cadence) + 2.0 * self.parallels + 1.0 * self.memorised

    @property
    def redraw(self) -> bool:
        """Whether to draw again: a quote of a source (what a listener would recognise), a
        weak cadence or parallel fifths. A run that happens to be in some corpus work (with 2.5
        million notes there, ordinary stepwise lines often are) is broken by moving a note."""
        return bool(self.quotes or self.cadence or self.parallels)


@dataclass
class ComposeReport:
    budget: int = 0  # draws left for the piece
    draws: int = 0
    phrases: int = 0
    redrawn_for: dict[str, int] = field(
        default_factory=lambda: {"quotes": 0, "cadence": 0, "parallels": 0}
    )
    copies_broken: int = 0  # phrases whose quotes were broken by moving notes
    notes_moved: int = 0
    parallels_mended: int = 0  # notes moved to a chord tone to mend outer-voice parallels


@dataclass(frozen=True)
class LentBars:
    """A source's notes by bar, in the blend's mode and voices, encoded only when a prompt
    takes them (a long source costs its notes, not its tokens, once per blend)."""

    by_bar: dict[int, list[Note]]
    bars: int
    steps: int

    def tokens(self, first: int, count: int) -> list[int]:
        notes = [n for bar in range(first, first + count) for n in self.by_bar.get(bar, [])]
        return encode_bars(notes, self.steps, first_bar=first, bars=count)


@dataclass(frozen=True)
class Prompt:
    """What conditions the model: the header (its STYLE slot overridden by the style mix)
    and, per source, its bars (None for a source in another metre)."""

    header: list[int]
    source_bars: Sequence[LentBars | None]


def compose(
    sampler: Sampler,
    prompt: Prompt,
    plan: Plan,
    *,
    meter_steps: int,
    voices: int,
    mode: str,
    sources_index: QuoteIndex,
    corpus_index: QuoteIndex | None,
    on_phrase: Callable[[float], None] | None = None,
) -> tuple[list[Note], ComposeReport]:
    notes: list[Note] = []
    phrases = sum(len(s.phrases) if s.repeat_of is None else 1 for s in plan.sections)
    report = ComposeReport(budget=phrases + SPARE_BATCHES)
    ranges = VOICE_RANGES[voices]
    total_phrases = sum(len(s.phrases) for s in plan.sections)
    done = 0
    for number, section in enumerate(plan.sections):
        source = number % max(len(prompt.source_bars), 1)
        if section.repeat_of is not None:
            original = plan.sections[section.repeat_of]
            shift = (section.start_bar - original.start_bar) * meter_steps
            kept_bars = section.bars - 1
            last_kept = (original.start_bar + kept_bars) * meter_steps
            notes += [
                replace(n, start=n.start + shift)
                for n in notes
                if original.start_bar * meter_steps <= n.start < last_kept
            ]
            ending = Phrase(section.start_bar + kept_bars, 1, section.phrases[-1].cadence)
            notes += _draw_phrase(
                sampler, prompt, ending, notes, source, meter_steps, voices, ranges, mode,
                sources_index, corpus_index, report,
            )  # fmt: skip
            done += len(section.phrases)
            if on_phrase:
                on_phrase(done / total_phrases)
            continue
        for phrase in section.phrases:
            notes += _draw_phrase(
                sampler, prompt, phrase, notes, source, meter_steps, voices, ranges, mode,
                sources_index, corpus_index, report,
            )  # fmt: skip
            done += 1
            if on_phrase:
                on_phrase(done / total_phrases)
    indexes = [i for i in (sources_index, corpus_index) if i]
    notes, moved = _final_pass(notes, voices, indexes, mode)
    report.notes_moved += moved
    notes, mended = _mend(notes, voices, ranges, plan, meter_steps, indexes, mode)
    report.parallels_mended += mended
    return notes, report


def _mend(
    notes: list[Note],
    voices: int,
    ranges: list[tuple[int, int]],
    plan: Plan,
    steps: int,
    indexes: list[QuoteIndex],
    mode: str,
) -> tuple[list[Note], int]:
    """Parallels between the outer voices that the draws kept or later moves made, mended
    (`voice_leading`): the cadences' held final notes stay, and no move may lengthen a run
    the voice copies."""
    ends = plan.cadence_ends(steps)
    fixed = frozenset(n for n in notes if n.end in ends)
    copied = [_excess(line, indexes)[0] for line in _lines(notes, voices)]

    def acceptable(voice: int, line: list[Note]) -> bool:
        return _excess(line, indexes)[0] <= copied[voice]

    return mend_parallels(notes, voices, ranges, mode, fixed=fixed, acceptable=acceptable)


def _draw_phrase(
    sampler: Sampler,
    prompt: Prompt,
    phrase: Phrase,
    before: list[Note],
    source: int,
    steps: int,
    voices: int,
    ranges: list[tuple[int, int]],
    mode: str,
    sources_index: QuoteIndex,
    corpus_index: QuoteIndex | None,
    report: ComposeReport,
) -> list[Note]:
    tokens = _prompt_tokens(prompt, phrase, before, source, steps, sampler.prompt_budget)
    best: tuple[float, float, list[Note], Faults] | None = None
    report.phrases += 1
    for attempt in range(MAX_BATCHES):
        if attempt and report.budget <= 0:
            break  # the piece's redraws are spent: keep the best so far
        report.budget -= 1

        def state() -> GrammarState:
            return GrammarState(
                bar_steps=steps, voices=voices, bars_left=phrase.bars, ranges=ranges
            )

        draws = [d for d in sampler.candidates(tokens, [state() for _ in range(CANDIDATES)]) if d]
        if not draws:  # every row outgrew the window: one draw that slides it
            draws = [sampler.bars(tokens, state())]
        report.draws += len(draws)
        for draw in draws:
            words = [vocabulary()[t] for t in draw.tokens]
            notes = _cadence(
                decode_body(words, steps, first_bar=phrase.start_bar), phrase, steps, voices
            )
            faults = _faults(notes, before, phrase, steps, voices, sources_index, corpus_index)
            likelihood = draw.log_probability / max(len(draw.tokens), 1)
            if best is None or (faults.total, -likelihood) < (best[0], -best[1]):
                best = (faults.total, likelihood, notes, faults)
        assert best is not None
        if not best[3].redraw:
            break
        for name in ("quotes", "cadence", "parallels"):  # what the best draw still did wrong
            if getattr(best[3], name):
                report.redrawn_for[name] += 1
                break
    assert best is not None
    notes = best[2]
    if best[3].copies:  # move notes to neighbouring scale tones until no copy is left
        notes, moved = _break_copies(notes, before, voices, mode, sources_index, corpus_index)
        report.copies_broken += 1
        report.notes_moved += moved
    return notes


def _prompt_tokens(
    prompt: Prompt, phrase: Phrase, before: list[Note], source: int, steps: int, budget: int
) -> list[int]:
    """The header, then as many whole bars as `budget` tokens hold (what the sampler's
    window keeps of a prompt), latest first: the piece's own latest bars, then, while room
    is left, bars of the source from where the phrase sits in the piece (as far as the
    source reaches). So the sources' bars prompt the opening phrases and the piece then
    goes on from itself under the sources' style mix. (Keeping a source's bars in every
    prompt, at most half the window, was tried: the same style agreement over 40 seeds,
    chorale blends a quarter slower from more redraws.)"""
    bars: list[list[int]] = []  # latest first
    room = budget
    # The piece's notes are in onset order; its last `budget` notes hold more bars than the
    # budget (two tokens a note or more), the earliest of them maybe cut short.
    tail = before[-budget:]
    by_bar: dict[int, list[Note]] = {}
    for n in tail:
        by_bar.setdefault(n.start // steps, []).append(n)
    earliest = 0 if len(tail) == len(before) else min(by_bar) + 1
    for bar in range(phrase.start_bar - 1, earliest - 1, -1):
        encoded = encode_bars(by_bar.get(bar, []), steps, first_bar=bar, bars=1)
        if len(encoded) > room:
            return _joined(prompt.header, bars)
        bars.append(encoded)
        room -= len(encoded)
    lent = prompt.source_bars[source] if prompt.source_bars else None
    if lent is not None and lent.bars:
        first = min(phrase.start_bar, max(lent.bars - PROMPT_SOURCE_BARS, 0))
        for bar in range(first + min(PROMPT_SOURCE_BARS, lent.bars) - 1, first - 1, -1):
            encoded = lent.tokens(bar, 1)
            if len(encoded) > room:
                break
            bars.append(encoded)
            room -= len(encoded)
    return _joined(prompt.header, bars)


def _joined(header: list[int], latest_first: list[list[int]]) -> list[int]:
    return [*header, *(token for bar in reversed(latest_first) for token in bar)]


def _cadence(notes: list[Note], phrase: Phrase, steps: int, voices: int) -> list[Note]:
    """The phrase's last notes set to its cadence, held to its end."""
    if phrase.cadence == "open":
        return notes
    end = (phrase.start_bar + phrase.bars) * steps
    lines = _lines(notes, voices)
    tonic_triad = {0, 3, 4, 7}
    targets: list[set[int] | None] = [None] * voices
    if phrase.cadence == "authentic":
        targets = [{0}, *[tonic_triad] * (voices - 2), *([{0}] if voices > 1 else [])]
    elif voices > 1:  # half: the bass on the dominant
        targets[-1] = {7}
    else:  # a tune's half cadence: its last note on a dominant-chord tone
        targets = [{2, 7, 11}]
    changed = {}
    for v, line in enumerate(lines):
        wanted = targets[v]
        if not line or wanted is None:
            continue
        last = line[-1]
        options = [p for p in range(last.pitch - CADENCE_REACH, last.pitch + CADENCE_REACH + 1)
                   if p % 12 in wanted]  # fmt: skip
        if not options:
            continue
        pitch = min(options, key=lambda p: (abs(p - last.pitch), p))
        held = min(max(end - last.start, 1), MAX_NOTE)
        changed[last] = replace(last, pitch=pitch, duration=held)
    return [changed.get(n, n) for n in notes]


def _lines(notes: Sequence[Note], voices: int) -> list[list[Note]]:
    lines: list[list[Note]] = [[] for _ in range(voices)]
    for n in sorted(notes):
        lines[n.voice].append(n)
    return lines


def _tails(notes: Sequence[Note], voices: int, count: int) -> list[list[Note]]:
    """Each voice's last `count` notes of `notes` (the piece so far, in onset order: each
    phrase follows the one before), found from the end rather than by sorting the piece
    once per draw."""
    tails: list[list[Note]] = [[] for _ in range(voices)]
    missing = voices
    for n in reversed(notes):
        tail = tails[n.voice]
        if len(tail) < count:
            tail.append(n)
            if len(tail) == count:
                missing -= 1
                if not missing:
                    break
    return [sorted(tail) for tail in tails]


def _faults(
    notes: list[Note],
    before: list[Note],
    phrase: Phrase,
    steps: int,
    voices: int,
    sources_index: QuoteIndex,
    corpus_index: QuoteIndex | None,
) -> Faults:
    faults = Faults()
    old, new = _tails(before, voices, LIMIT), _lines(notes, voices)
    for v in range(voices):
        line = [(n.pitch, n.duration) for n in (old[v][-LIMIT:] + new[v])]
        faults.quotes += len(sources_index.copies(line))
        if corpus_index is not None:
            faults.memorised += len(corpus_index.copies(line))
    if not new[0]:
        faults.cadence += 1
        return faults
    top = new[0][-1].pitch % 12
    bottom = new[-1][-1].pitch % 12 if new[-1] else top
    end_bar = phrase.start_bar + phrase.bars
    top_lasts = [n for n in new[0] if n.end >= end_bar * steps - steps // 2]
    if phrase.cadence == "authentic":
        faults.cadence += int(top != 0) + int(voices > 1 and bottom != 0) + int(not top_lasts)
    elif phrase.cadence == "half" and voices > 1:
        faults.cadence += int(bottom not in (7, 0))
    if voices > 1:
        upper = old[0][-2:] + new[0]
        lower = old[-1][-2:] + new[-1]
        faults.parallels += parallel_perfects(upper, lower)
    return faults


def _break_copies(
    notes: list[Note],
    before: list[Note],
    voices: int,
    mode: str,
    sources_index: QuoteIndex,
    corpus_index: QuoteIndex | None,
) -> tuple[list[Note], int]:
    """`_unquote` each voice of a phrase, the notes before it given but not moved."""
    indexes = [i for i in (sources_index, corpus_index) if i is not None]
    moved = 0
    notes = list(notes)
    tails = _tails(before, voices, LIMIT)
    for v in range(voices):
        mine = [i for i, n in enumerate(notes) if n.voice == v]
        old = tails[v]
        line, count = _unquote(old + [notes[i] for i in mine], len(old), indexes, mode)
        for i, note in zip(mine, line[len(old) :], strict=True):
            notes[i] = note
        moved += count
    return notes, moved


def _unquote(
    line: list[Note], first: int, indexes: list[QuoteIndex], mode: str
) -> tuple[list[Note], int]:
    """Move notes of `line` from `first` to a neighbouring tone of the mode's scale, one or
    two degrees up or down (within a copied run, its middle first), while that shortens what
    is copied, until nothing is; bounded (twice as many moves as notes), and a run no move
    shortens is left for the summary to report. Scale tones, not semitones: a quote broken
    by a chromatic neighbour would put a wrong note in the tune."""
    line = list(line)
    moved = 0
    for _ in range(2 * (len(line) - first)):
        over, found = _excess(line, indexes)
        if not over:
            break
        best: tuple[int, int, int] | None = None  # (excess, place, pitch)
        for run in found:
            middle = run.query_start + run.notes // 2
            places = sorted(
                range(max(run.query_start, first), min(run.query_start + run.notes, len(line))),
                key=lambda i: (abs(i - middle), i),
            )
            for place in places:
                for pitch in _scale_neighbours(line[place].pitch, mode):
                    trial = line.copy()
                    trial[place] = replace(line[place], pitch=pitch)
                    left, _ = _excess(trial, indexes)
                    if best is None or left < best[0]:
                        best = (left, place, pitch)
                if best is not None and best[0] < over:
                    break
            if best is not None and best[0] < over:
                break
        if best is None or best[0] >= over:
            break
        line[best[1]] = replace(line[best[1]], pitch=best[2])
        moved += 1
    return line, moved


def _scale_neighbours(pitch: int, mode: str) -> list[int]:
    """The scale tones one and two degrees above and below `pitch` (in C), nearest first."""
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    above = [p for p in range(pitch + 1, pitch + 6) if p % 12 in scale][:2]
    below = [p for p in range(pitch - 1, pitch - 6, -1) if p % 12 in scale][:2]
    return [p for pair in zip_longest(above, below) for p in pair if p is not None]


def _excess(line: Sequence[Note], indexes: list[QuoteIndex]) -> tuple[int, list[Quote]]:
    """How many notes the line's copied runs have beyond the limit, and the runs."""
    pairs = [(n.pitch, n.duration) for n in line]
    found = [q for index in indexes for q in index.copies(pairs)]
    return sum(q.notes - LIMIT for q in found), found


def _final_pass(
    notes: list[Note], voices: int, indexes: list[QuoteIndex], mode: str
) -> tuple[list[Note], int]:
    """Each whole voice checked once more: a repeated strain joins its first instance's end
    to its own start, which no phrase's check saw."""
    moved = 0
    result: list[Note] = []
    for v in range(voices):
        line, count = _unquote(sorted(n for n in notes if n.voice == v), 0, indexes, mode)
        result += line
        moved += count
    return sorted(result), moved
