"""The training data: every work of the corpus the catalog seeds (music21's, on disk), as
tokens, with its style and a fixed split.

A work's split follows from its source name alone (a hash), so the held-out pieces are the
same on every machine and in every run, and a piece never moves between the splits when the
corpus grows. The dataset is saved as one `.npz` (tokens of all pieces end to end, offsets,
styles, splits) beside a JSON list of the sources.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.composition.learned.tokens import STYLES, Score, encode, score_from_midi
from cadenza.music.midi_file import MidiFileError

log = logging.getLogger(__name__)

HELD_OUT_PERCENT = 5
SPLITS = ("train", "held_out")


def style_of_tags(tags: Iterable[str]) -> str | None:
    """The model's style for a catalog song's tags; None when they name none."""
    found = {t.lower() for t in tags}
    if "chorale" in found:
        return "chorale"
    if found & {"palestrina", "renaissance", "mass"}:
        return "renaissance"
    if "essen" in found:
        return "folksong"
    for style in ("reel", "hornpipe", "strathspey"):
        if style in found:
            return style
    if found & {"jig", "double jig", "slip jig", "slide"}:
        return "jig"
    if "highland fling" in found:
        return "strathspey"
    if "folk" in found:
        return "tune"
    return None


def split_of(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "held_out" if int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT else "train"


@dataclass(frozen=True)
class Piece:
    source: str
    style: str
    split: str
    score: Score


def pieces_from_corpus(
    limit: int | None = None, collections: Sequence[str] | None = None, workers: int = 2
) -> Iterator[Piece]:
    from cadenza.music.corpus import iter_corpus  # music21 loads slowly: only when building

    for song in iter_corpus(limit=limit, collections=collections, workers=workers):
        style = style_of_tags(song.tags)
        if style is None:
            continue
        try:
            score = score_from_midi(song.midi, style=style)
        except MidiFileError as e:
            log.warning("skipping %s: %s", song.source, e)
            continue
        if len(score.notes) < 8:
            continue
        yield Piece(song.source, style, split_of(song.source), score)


@dataclass
class Dataset:
    tokens: np.ndarray  # int16, every piece's tokens end to end
    offsets: np.ndarray  # int64, piece i is tokens[offsets[i]:offsets[i + 1]]
    styles: np.ndarray  # int8, index into STYLES
    splits: np.ndarray  # int8, index into SPLITS
    tonics: np.ndarray  # int8, the key each piece was transposed from
    sources: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def piece(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.splits == SPLITS.index(split))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, tokens=self.tokens, offsets=self.offsets, styles=self.styles,
            splits=self.splits, tonics=self.tonics,
        )  # fmt: skip
        path.with_suffix(".json").write_text(json.dumps(self.sources))

    @classmethod
    def load(cls, path: Path) -> Dataset:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        sources = json.loads(path.with_suffix(".json").read_text())
        return cls(sources=sources, **arrays)

    @classmethod
    def of(cls, pieces: Sequence[Piece]) -> Dataset:
        encoded = [np.asarray(encode(p.score), dtype=np.int16) for p in pieces]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        return cls(
            tokens=np.concatenate(encoded) if encoded else np.zeros(0, np.int16),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            styles=np.array([STYLES.index(p.style) for p in pieces], dtype=np.int8),
            splits=np.array([SPLITS.index(p.split) for p in pieces], dtype=np.int8),
            tonics=np.array([p.score.tonic for p in pieces], dtype=np.int8),
            sources=[p.source for p in pieces],
        )
