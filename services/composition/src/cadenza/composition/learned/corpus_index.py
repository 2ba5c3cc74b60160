"""The memorisation check's side: every voice of every corpus work the model was trained on,
as a QuoteIndex, read from the dataset that ships beside the weights (`corpus.npz`, the
training run's own tokens, 2–3 MB) without decoding piece by piece."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from cadenza.composition.learned.dataset import Dataset
from cadenza.composition.learned.quotes import QuoteIndex
from cadenza.composition.learned.tokens import (
    HIGHEST_PITCH,
    LOWEST_PITCH,
    MAX_DURATION,
    MAX_VOICES,
    token_id,
    vocabulary,
)
from cadenza.composition.learned.weights import WEIGHTS_DIR

CORPUS_FILE = "corpus.npz"


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per token id: its voice (−1 if not a pitch), its pitch, its duration (0 if not one)."""
    size = len(vocabulary())
    voice, pitch, duration = np.full(size, -1), np.zeros(size, np.int64), np.zeros(size, np.int64)
    for v in range(MAX_VOICES):
        for p in range(LOWEST_PITCH, HIGHEST_PITCH + 1):
            voice[token_id(f"P{v}:{p}")], pitch[token_id(f"P{v}:{p}")] = v, p
    for d in range(1, MAX_DURATION + 1):
        duration[token_id(f"D:{d}")] = d
    return voice, pitch, duration


def corpus_quote_index(data: Dataset) -> QuoteIndex:
    voice_of, pitch_of, duration_of = _tables()
    tokens = data.tokens.astype(np.int64)
    at = np.flatnonzero(voice_of[tokens] >= 0)
    at = at[at + 1 < tokens.size]
    piece = np.searchsorted(data.offsets, at, side="right") - 1
    line_key = piece * MAX_VOICES + voice_of[tokens[at]]
    order = np.argsort(line_key, kind="stable")  # each voice's notes stay in time order
    line_key = line_key[order]
    starts = np.concatenate([[True], line_key[1:] != line_key[:-1]])
    line = np.cumsum(starts) - 1
    keys = line_key[starts]
    labels = [f"{data.sources[k // MAX_VOICES]} (voice {k % MAX_VOICES + 1})" for k in keys]
    return QuoteIndex.of_notes(
        line, pitch_of[tokens[at[order]]], duration_of[tokens[at[order] + 1]], labels
    )


@cache
def shipped_corpus_index(folder: Path = WEIGHTS_DIR) -> QuoteIndex:
    return corpus_quote_index(Dataset.load(folder / CORPUS_FILE))
