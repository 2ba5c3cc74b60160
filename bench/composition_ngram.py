"""The Markov baseline on the learned model's own tokens: an interpolated Witten–Bell n-gram
model (the smoothing the Markov engine's backoff approximates), counted with numpy over the
training split and scored on exactly the tokens the transformer is scored on (each held-out
piece's body, the header given as context).

Contexts never reach across pieces: positions before a piece's start read as PAD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cadenza.composition.learned.dataset import Dataset
from cadenza.composition.learned.evaluate import Likelihood, note_count
from cadenza.composition.learned.tokens import HEADER_LENGTH, PAD, token_id, vocabulary

BITS = 9  # 451 tokens < 512: a token is 9 bits of a 64-bit key


@dataclass
class _Order:
    keys: np.ndarray  # sorted (context, token) keys
    counts: np.ndarray
    contexts: np.ndarray  # sorted context keys
    context_counts: np.ndarray
    context_types: np.ndarray  # distinct tokens seen after each context


def _windows(data: Dataset, pieces: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """(context key, token) for every body token of the pieces, contexts of `order - 1`."""
    pad = token_id(PAD)
    contexts, tokens = [], []
    for i in pieces:
        piece = data.piece(int(i)).astype(np.int64)
        padded = np.concatenate([np.full(order - 1, pad), piece])
        key = np.zeros(len(piece), dtype=np.int64)
        for k in range(order - 1):
            key = (key << BITS) | padded[k : k + len(piece)]
        contexts.append(key[HEADER_LENGTH:])
        tokens.append(piece[HEADER_LENGTH:])
    return np.concatenate(contexts), np.concatenate(tokens)


class NGram:
    def __init__(self, data: Dataset, pieces: np.ndarray, order: int) -> None:
        self.order = order
        self.vocabulary = len(vocabulary())
        self.levels: list[_Order] = []
        for n in range(1, order + 1):
            context, token = _windows(data, pieces, n)
            keys, counts = np.unique((context << BITS) | token, return_counts=True)
            contexts, context_counts = np.unique(context, return_counts=True)
            context_of_key = keys >> BITS
            types = np.bincount(np.searchsorted(contexts, context_of_key), minlength=len(contexts))
            self.levels.append(_Order(keys, counts, contexts, context_counts, types))

    def likelihood(self, data: Dataset, pieces: np.ndarray) -> Likelihood:
        p = np.full(0, 0.0)
        for n, level in enumerate(self.levels, start=1):
            context, token = _windows(data, pieces, n)
            if n == 1:
                # Unigram with add-one smoothing over the vocabulary.
                total = level.context_counts.sum()
                where = np.searchsorted(level.keys, token)
                found = (where < level.keys.size) & (
                    level.keys[np.minimum(where, level.keys.size - 1)] == token
                )
                count = np.where(found, level.counts[np.minimum(where, level.counts.size - 1)], 0)
                p = (count + 1.0) / (total + self.vocabulary)
                continue
            key = (context << BITS) | token
            at = np.minimum(np.searchsorted(level.keys, key), level.keys.size - 1)
            c_hw = np.where(level.keys[at] == key, level.counts[at], 0).astype(np.float64)
            ci = np.minimum(np.searchsorted(level.contexts, context), level.contexts.size - 1)
            seen = level.contexts[ci] == context
            c_h = np.where(seen, level.context_counts[ci], 0).astype(np.float64)
            t_h = np.where(seen, level.context_types[ci], 0).astype(np.float64)
            p = np.where(seen, (c_hw + t_h * p) / np.maximum(c_h + t_h, 1.0), p)
        nats = float(-np.log(p).sum())
        tokens = int(p.size)
        notes = sum(note_count(data.piece(int(i))) for i in pieces)
        return Likelihood(nats, tokens, notes)


def best_ngram(
    data: Dataset, orders: tuple[int, ...] = (2, 3, 4, 5, 6, 7)
) -> tuple[int, dict[int, float]]:
    """The order with the lowest held-out NLL per note (the baseline's best case), and every
    order's figure."""
    train, held = data.indices("train"), data.indices("held_out")
    figures = {}
    for order in orders:
        figures[order] = NGram(data, train, order).likelihood(data, held).per_note
    best = min(figures, key=lambda o: (figures[o], o))
    assert all(math.isfinite(v) for v in figures.values())
    return best, figures
