"""The form of a learned blend, from its sources and the requested length.

Dance tunes come in strains (eight bars of two four-bar phrases) that are played twice
(AABB); chorales in two-bar phrases, the first two repeated (the Stollen of a bar form,
AAB); renaissance polyphony is through-composed. Which of these a blend follows is the
sources' majority texture, and whether it repeats is measured on the sources themselves
(how many of their bars come back a strain later). A repeated section is its first
instance with a new last bar: the first time it ends open (a half cadence), the second time
closed, as first and second endings do.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cadenza.composition.learned.tokens import Score

Texture = Literal["chorale", "polyphony", "tune"]
Cadence = Literal["authentic", "half", "open"]
REPEAT_SHARE = 0.25  # sources with this share of their bars repeated a strain later repeat


@dataclass(frozen=True)
class Phrase:
    start_bar: int
    bars: int
    cadence: Cadence  # what its last bar must do


@dataclass(frozen=True)
class Section:
    label: str  # "A", "B", …; a repeat has its original's label
    start_bar: int
    bars: int
    repeat_of: int | None  # index of the section it repeats (with a new last bar)
    phrases: tuple[Phrase, ...]


@dataclass(frozen=True)
class Plan:
    texture: Texture
    sections: tuple[Section, ...]
    repeats: bool  # measured on the sources

    def cadence_ends(self, bar_steps: int) -> frozenset[int]:
        """Where the phrases that end on a cadence end, in sixteenths: where a note held
        there is a cadence's final note."""
        return frozenset(
            (phrase.start_bar + phrase.bars) * bar_steps
            for section in self.sections
            for phrase in section.phrases
            if phrase.cadence != "open"
        )

    def describe(self) -> list[dict[str, object]]:
        return [
            {
                "name": s.label if s.repeat_of is None else f"{s.label} (repeat)",
                "start_bar": s.start_bar + 1,
                "bars": s.bars,
                "phrases": [p.bars for p in s.phrases],
                "cadences": [p.cadence for p in s.phrases],
            }
            for s in self.sections
        ]


TEXTURE_OF_STYLE: dict[str, Texture] = {"chorale": "chorale", "renaissance": "polyphony"}


def texture_of(styles: Sequence[str]) -> Texture:
    """The sources' commonest texture (other styles are tunes); among equals, the first
    source's."""
    textures = [TEXTURE_OF_STYLE.get(style, "tune") for style in styles]
    counts = Counter(textures)
    return max(textures, key=lambda t: (counts[t], -textures.index(t)), default="tune")


def repeated_share(score: Score, distance: int) -> float:
    """The share of bars that equal the bar `distance` bars before them."""
    bars: dict[int, list[tuple[int, int, int, int]]] = {}
    steps = score.bar_steps
    for n in score.notes:
        bars.setdefault(n.start // steps, []).append(
            (n.start % steps, n.voice, n.pitch, n.duration)
        )
    total = score.bars - distance
    if total <= 0:
        return 0.0
    same = sum(
        1
        for b in range(distance, score.bars)
        if bars.get(b) and bars.get(b) == bars.get(b - distance)
    )
    return same / total


def plan_form(texture: Texture, bars: int, repeats: bool) -> Plan:
    phrase = 2 if texture == "chorale" else 4
    if texture == "tune":
        strain = 8 if bars >= 32 else max(2, bars // 4) if repeats else 8
        sections = _strains(bars, strain, repeats, phrase)
    elif texture == "chorale":
        sections = _bar_form(bars, phrase, repeats)
    else:
        sections = _strains(bars, 8, False, phrase)
    return Plan(texture, tuple(sections), repeats)


def _phrases(start: int, bars: int, length: int, *, closing: Cadence) -> tuple[Phrase, ...]:
    phrases: list[Phrase] = []
    at = start
    while at < start + bars:
        size = min(length, start + bars - at)
        if start + bars - (at + size) < length // 2 and at + size < start + bars:
            size = start + bars - at  # no stub at the end
        last = at + size >= start + bars
        cadence: Cadence = closing if last else ("half" if len(phrases) % 2 == 0 else "authentic")
        phrases.append(Phrase(at, size, cadence))
        at += size
    return tuple(phrases)


def _strains(bars: int, strain: int, repeats: bool, phrase: int) -> list[Section]:
    sections: list[Section] = []
    labels = iter(string.ascii_uppercase)
    at = 0
    while at < bars:
        label = next(labels, "Z")
        size = min(strain, bars - at)
        twice = repeats and bars - at >= 2 * size
        first = len(sections)
        closing: Cadence = "half" if twice else "authentic"
        sections.append(Section(label, at, size, None, _phrases(at, size, phrase, closing=closing)))
        at += size
        if twice:
            sections.append(
                Section(label, at, size, first, _phrases(at, size, phrase, closing="authentic"))
            )
            at += size
    firsts = [s for s in sections if s.repeat_of is None]
    if not repeats and len(firsts) >= 3 and sections[-1].bars == sections[0].bars:
        last = sections[-1]  # through-composed: the opening strain returns to close
        sections[-1] = Section("A", last.start_bar, last.bars, 0, last.phrases)
    return _final_closes(sections)


def _bar_form(bars: int, phrase: int, repeats: bool) -> list[Section]:
    stollen = 2 * phrase
    if not repeats or bars < 3 * stollen:
        return _final_closes(
            [Section("A", 0, bars, None, _phrases(0, bars, phrase, closing="authentic"))]
        )
    return _final_closes([
        Section("A", 0, stollen, None, _phrases(0, stollen, phrase, closing="half")),
        Section("A", stollen, stollen, 0, _phrases(stollen, stollen, phrase, closing="authentic")),
        Section("B", 2 * stollen, bars - 2 * stollen, None,
                _phrases(2 * stollen, bars - 2 * stollen, phrase, closing="authentic")),
    ])  # fmt: skip


def _final_closes(sections: list[Section]) -> list[Section]:
    """The piece's last phrase ends on the tonic whatever came before."""
    last = sections[-1]
    phrases = (
        *last.phrases[:-1],
        Phrase(last.phrases[-1].start_bar, last.phrases[-1].bars, "authentic"),
    )
    sections[-1] = Section(last.label, last.start_bar, last.bars, last.repeat_of, phrases)
    return sections
