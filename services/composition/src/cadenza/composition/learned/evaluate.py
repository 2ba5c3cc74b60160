"""How well a model predicts pieces it never saw: negative log-likelihood per note.

Every body token of a piece is scored once (bar lines, positions, pitches, durations and the
end), with the header given; the sum is divided by the piece's notes, so encodings and
models that spend their probability differently are compared on what they describe. Pieces
longer than the model's window are scored in windows that start at a bar line and overlap
by half, each token scored in the first window that reaches it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from cadenza.composition.learned.dataset import Dataset
from cadenza.composition.learned.model import Composer
from cadenza.composition.learned.tokens import BAR, HEADER_LENGTH, token_id, vocabulary


@dataclass(frozen=True)
class Likelihood:
    nats: float  # summed over the scored tokens
    tokens: int
    notes: int

    @property
    def per_note(self) -> float:
        return self.nats / max(self.notes, 1)

    @property
    def per_token(self) -> float:
        return self.nats / max(self.tokens, 1)


def note_count(tokens: np.ndarray) -> int:
    durations = [i for i, w in enumerate(vocabulary()) if w.startswith("D:")]
    return int(np.isin(tokens, durations).sum())


@torch.inference_mode()
def model_likelihood(model: Composer, data: Dataset, pieces: Iterable[int]) -> Likelihood:
    nats, tokens, notes = 0.0, 0, 0
    for i in pieces:
        piece = data.piece(int(i)).astype(np.int64)
        nats += _piece_nats(model, piece)
        tokens += len(piece) - HEADER_LENGTH
        notes += note_count(piece)
    return Likelihood(nats, tokens, notes)


def _piece_nats(model: Composer, piece: np.ndarray) -> float:
    context = model.config.context
    header, body = piece[:HEADER_LENGTH], piece[HEADER_LENGTH:]
    bars = np.flatnonzero(body == token_id(BAR))
    room = context - HEADER_LENGTH
    scored, total, start = 0, 0.0, 0  # body tokens scored so far; window start in the body
    while scored < len(body):
        window = np.concatenate([header, body[start : start + room]])
        inputs = torch.from_numpy(window[:-1])[None]
        targets = torch.from_numpy(window[1:])
        logits = model(inputs)
        losses = F.cross_entropy(logits[0], targets, reduction="none")
        # Target j is window token j + 1, which is body token start + j + 1 - HEADER_LENGTH.
        first = scored - start + HEADER_LENGTH - 1
        total += float(losses[first:].sum())
        scored = start + len(window) - HEADER_LENGTH
        if scored >= len(body):
            break
        later = bars[bars <= scored - room // 2]
        start = int(later[-1]) if len(later) and later[-1] > start else scored - room // 2
    return total
