"""The piece's form: sections (intro, verses, choruses, a bridge, outro) that fill the length
exactly, and the phrases inside them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Style = Literal["pop", "rock", "ballad", "folk", "dance"]
STYLES: tuple[Style, ...] = ("pop", "rock", "ballad", "folk", "dance")
SECTION_BARS = 8  # a verse or chorus when the piece is long enough
PHRASE_BARS = 4


@dataclass(frozen=True)
class Section:
    name: str  # intro, verse, chorus, bridge, outro
    start_bar: int  # 0-based
    bars: int
    instance: int  # 1 for the first verse, 2 for the second, …

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.bars


@dataclass(frozen=True)
class Phrase:
    section: int  # index into the section list
    start_bar: int
    bars: int
    last_in_section: bool


def plan_sections(bars: int, style: Style) -> list[Section]:
    """Sections whose bar counts add up to `bars`.

    Short pieces are one verse, or a verse and a chorus; longer ones get an intro and outro
    (a dance track a longer intro), then verse/chorus pairs of SECTION_BARS with a bridge
    before the last chorus (folk songs are strophic: no bridge). Bars left over lengthen
    the last body section, so phrases stay whole.
    """
    intro = 0 if bars < 16 else 2 if bars < 32 else 4
    if style == "dance" and bars >= 48:
        intro = 8
    outro = 0 if bars < 24 else 2 if bars < 40 else 4
    body = bars - intro - outro
    unit = SECTION_BARS if body >= 2 * SECTION_BARS else PHRASE_BARS
    count = max(1, body // unit)
    names = _body_names(count, bridge=style != "folk")
    sizes = [unit] * count
    sizes[-1] += body - unit * count
    plan = [("intro", intro), *zip(names, sizes, strict=True), ("outro", outro)]
    sections: list[Section] = []
    seen: dict[str, int] = {}
    start = 0
    for name, size in plan:
        if size <= 0:
            continue
        seen[name] = seen.get(name, 0) + 1
        sections.append(Section(name, start, size, seen[name]))
        start += size
    return sections


def _body_names(count: int, *, bridge: bool) -> list[str]:
    if count == 1:
        return ["verse"]
    if count == 3:
        return ["verse", "verse", "chorus"]
    core = count - 2 if bridge and count >= 5 else count
    names = ["verse" if i % 2 == 0 else "chorus" for i in range(core)]
    if names[-1] == "verse":  # end the body on a chorus: a second verse before the first
        names = ["verse", *names[:-1]] if core == count else names
    if core < count:
        names += ["bridge", "chorus"]
    return names


def phrases_of(sections: list[Section]) -> list[Phrase]:
    """Each section cut into phrases of about PHRASE_BARS (a section of 10 is 5 + 5)."""
    phrases = []
    for index, section in enumerate(sections):
        count = max(1, round(section.bars / PHRASE_BARS))
        sizes = [section.bars // count + (1 if i < section.bars % count else 0)
                 for i in range(count)]  # fmt: skip
        start = section.start_bar
        for i, size in enumerate(sizes):
            phrases.append(Phrase(index, start, size, last_in_section=i == count - 1))
            start += size
    return phrases
