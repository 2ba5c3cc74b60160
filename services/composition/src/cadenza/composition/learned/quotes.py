"""Quotes: runs of notes a blend shares with a source or with the training corpus.

Two notes runs are the same *with rhythm* when their successive intervals and their durations
are equal, and the same *in pitch* when their successive intervals are equal whatever the
durations (a phrase re-rhythmed is the same pitch sequence).
Both are transposition-invariant. A run of k notes is k − 1 equal codes.

The index keeps every line's codes end to end (lines separated by a code that matches
nothing) and, sorted, a short exact key at every place (three codes with rhythm, four
intervals in pitch): a query line looks its keys up at each of its places, then extends each
hit forward on the stored codes, so the longest run is exact and says where it lies. Short
runs (under the key's length) are reported as at most that length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

LIMIT = 8  # the most consecutive notes a blend may share with a source or the corpus
Kind = Literal["with_rhythm", "pitches"]
KINDS: tuple[Kind, ...] = ("with_rhythm", "pitches")
_KEY_CODES = {"with_rhythm": 3, "pitches": 4}
_SEPARATOR = -1  # codes are never negative
Line = Sequence[tuple[int, int]]  # (pitch, duration) per note, in time order


@dataclass(frozen=True)
class Quote:
    kind: Kind
    notes: int  # the run's length in notes
    exact: bool  # False: the run is shorter than the index's key, `notes` is that bound
    label: str  # which line it shares: a source's title or a corpus work, with its voice
    query_start: int  # index of the run's first note in the query line

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"notes": self.notes, "from": self.label}
        if not self.exact:
            found = {"notes_at_most": self.notes}
        return found


def codes(line: Line, kind: Kind) -> np.ndarray:
    """One int per pair of consecutive notes of the line: code i joins notes i and i + 1."""
    if kind == "pitches":
        if len(line) < 2:
            return _empty()
        return np.diff(np.array([p for p, _ in line], dtype=np.int64)) + 256  # never negative
    if len(line) < 2:
        return _empty()
    pitch = np.array([p for p, _ in line], dtype=np.int64)
    duration = np.minimum(np.array([d for _, d in line], dtype=np.int64), 0xFFFF)
    return np.asarray(((np.diff(pitch) + 256) << 32) | (duration[:-1] << 16) | duration[1:])


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _keys(sequence: np.ndarray, width: int) -> np.ndarray:
    """An exact key per place (codes i..i+width-1 mixed into 64 bits); places whose window
    meets a separator get a key of their own that matches nothing real."""
    count = sequence.size - width + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    key = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        part = sequence[offset : offset + count].astype(np.uint64)
        key = (key * np.uint64(0x100000001B3)) ^ part  # FNV-style mixing, wraps mod 2**64
    return key


class QuoteIndex:
    def __init__(self, lines: Sequence[Line], labels: Sequence[str]) -> None:
        """An index of a few lines (the sources' voices), `labels[i]` naming line i."""
        self.labels = list(labels)
        self._kinds: dict[Kind, _KindIndex] = {}
        for kind in KINDS:
            per_line = [codes(line, kind) for line in lines]
            sequence = np.concatenate([np.append(c, _SEPARATOR) for c in per_line] or [_empty()])
            owner = np.concatenate(
                [np.full(c.size + 1, i, dtype=np.int32) for i, c in enumerate(per_line)]
                or [np.zeros(0, np.int32)]
            )
            self._kinds[kind] = _KindIndex(sequence, owner, _KEY_CODES[kind])

    @classmethod
    def of_notes(
        cls, line: np.ndarray, pitch: np.ndarray, duration: np.ndarray, labels: Sequence[str]
    ) -> QuoteIndex:
        """An index of many lines at once (the corpus): each note's line number, pitch and
        duration, the notes of a line consecutive and in time order."""
        index = cls.__new__(cls)
        index.labels = list(labels)
        index._kinds = {}
        line, pitch, duration = (np.asarray(a, dtype=np.int64) for a in (line, pitch, duration))
        same = line[1:] == line[:-1]
        rhythm = ((np.diff(pitch) + 256) << 32) | (np.minimum(duration[:-1], 0xFFFF) << 16)
        rhythm |= np.minimum(duration[1:], 0xFFFF)
        index._kinds["with_rhythm"] = _KindIndex(
            np.where(same, rhythm, _SEPARATOR), line[:-1].astype(np.int32), 3
        )
        index._kinds["pitches"] = _KindIndex(
            np.where(same, np.diff(pitch) + 256, _SEPARATOR), line[:-1].astype(np.int32), 4
        )
        return index

    def longest(self, line: Line, kind: Kind) -> Quote:
        found = self._kinds[kind].longest(codes(line, kind))
        width = _KEY_CODES[kind]
        if found is None:
            return Quote(kind, width, False, "", 0)
        length, line_id, start = found
        return Quote(kind, length + 1, True, self.labels[line_id], start)

    def copies(self, line: Line, limit: int = LIMIT) -> list[Quote]:
        """Every run longer than `limit` notes, of either kind (each the longest that starts
        where it does and not inside an earlier one): breaking one must not hide another."""
        found: list[Quote] = []
        for kind in KINDS:
            for length, line_id, start in self._kinds[kind].runs(codes(line, kind), limit):
                found.append(Quote(kind, length + 1, True, self.labels[line_id], start))
        return found


class _KindIndex:
    """`sequence`: every line's codes, a separator after each (or in place of the code
    between two lines); `owner`: the line of each code."""

    def __init__(self, sequence: np.ndarray, owner: np.ndarray, width: int) -> None:
        self.width, self.sequence, self.owner = width, sequence, owner
        keys = _keys(sequence, width)
        valid = np.ones(keys.size, dtype=bool)
        for offset in range(width):  # no key across a separator
            valid &= sequence[offset : offset + keys.size] != _SEPARATOR
        places = np.flatnonzero(valid).astype(np.int32)  # 2**31 codes is far beyond any corpus
        order = np.argsort(keys[places], kind="stable")
        self.places = places[order]
        self.sorted_keys = keys[self.places]

    def longest(self, query: np.ndarray) -> tuple[int, int, int] | None:
        """(codes shared, corpus line, query start) of the longest shared run, or None when
        no `width` codes are shared."""
        best: tuple[int, int, int] | None = None
        for found in self._shared(query):
            if best is None or found[0] > best[0]:
                best = found
        return best

    def runs(self, query: np.ndarray, limit: int) -> list[tuple[int, int, int]]:
        """The shared runs of more than `limit` notes (`limit` codes or more), as `longest`
        gives them, leaving out each run that lies inside one found before it."""
        kept: list[tuple[int, int, int]] = []
        reach = 0
        for length, owner, start in self._shared(query):
            if length >= limit and start + length > reach:
                kept.append((length, owner, start))
                reach = start + length
        return kept

    def _shared(self, query: np.ndarray) -> list[tuple[int, int, int]]:
        """For each query place where `width` codes are shared: (the longest run shared from
        there, a line it is in, the place), in query order."""
        keys = _keys(query, self.width)
        if not keys.size or not self.sorted_keys.size:
            return []
        left = np.searchsorted(self.sorted_keys, keys, side="left")
        right = np.searchsorted(self.sorted_keys, keys, side="right")
        found: list[tuple[int, int, int]] = []
        for i in np.flatnonzero(right > left):
            hits = self.places[left[i] : right[i]]
            # Extend forward on the stored codes (a separator never equals a code).
            length = self.width
            alive = hits
            while alive.size and i + length < query.size:
                ahead = alive + length
                inside = ahead < self.sequence.size
                alive = alive[inside]
                alive = alive[self.sequence[alive + length] == query[i + length]]
                if alive.size:
                    length += 1
                    hits = alive
            found.append((length, int(self.owner[hits[0]]), int(i)))
        return found
