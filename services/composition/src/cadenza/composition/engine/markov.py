"""A variable-order n-gram (Markov) model pooled over the sources, that remembers which source
each count came from.

Drawing the next token: contexts from the longest the creativity allows down to none are
interpolated (Witten–Bell: a context seen often with few different continuations is
trusted most; unseen contexts are skipped, which is backoff). The result is sharpened or
flattened by a temperature, and a "wander" share of the probability goes to a caller-given
prior over the candidates (music-theory preferences, or uniform). Every draw carries where
its weight came from: the model part split between the sources in proportion to their
counts for the drawn token in each context, weighted as the interpolation weighted them,
the wander part as "rules". That is what the blend's influence figures add up.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Temper:
    max_order: int  # longest context used, 1..3
    temperature: float  # < 1 favours the sources' most common continuations
    wander: float  # share of probability given to the prior instead of the model


def temper_for(creativity: float) -> Temper:
    """0 stays close to the sources' statistics (order 3, sharp), 1 wanders (order 1, flat)."""
    return Temper(
        max_order=3 if creativity < 1 / 3 else 2 if creativity < 2 / 3 else 1,
        temperature=0.6 + 1.0 * creativity,
        wander=0.02 + 0.28 * creativity,
    )


@dataclass(frozen=True)
class Draw(Generic[T]):
    token: T
    per_source: np.ndarray  # weight attributed to each source; with `rules` it sums to 1
    rules: float


@dataclass
class Tally:
    """Where a category's draws came from, summed."""

    n_sources: int
    per_source: np.ndarray = field(init=False)
    rules: float = 0.0
    draws: int = 0

    def __post_init__(self) -> None:
        self.per_source = np.zeros(self.n_sources)

    def add(self, draw: Draw[T]) -> None:
        self.per_source = self.per_source + draw.per_source
        self.rules += draw.rules
        self.draws += 1

    def merge(self, other: Tally) -> None:
        self.per_source = self.per_source + other.per_source
        self.rules += other.rules
        self.draws += other.draws


class NGramModel(Generic[T]):
    def __init__(self, n_sources: int, max_order: int = 3) -> None:
        self.n_sources = n_sources
        self.max_order = max_order
        self._counts: dict[tuple[T, ...], dict[T, np.ndarray]] = {}

    def fit(self, source: int, sequence: Sequence[T]) -> None:
        """Count every token after each of its contexts of length 0..max_order."""
        for i, token in enumerate(sequence):
            for k in range(min(self.max_order, i) + 1):
                context = tuple(sequence[i - k : i])
                table = self._counts.setdefault(context, {})
                counts = table.get(token)
                if counts is None:
                    counts = table[token] = np.zeros(self.n_sources)
                counts[source] += 1.0

    def vocabulary(self) -> list[T]:
        """Every token seen, in first-seen order (sources are fitted in their given order)."""
        return list(self._counts.get((), {}))

    def draw(
        self,
        rng: np.random.Generator,
        history: Sequence[T],
        candidates: Sequence[T],
        temper: Temper,
        prior: Sequence[float] | None = None,
        bias: Sequence[float] | None = None,
    ) -> Draw[T]:
        """One of `candidates` (non-empty, in a fixed order), following `history`. `prior`
        is what wandering favours; `bias` reweights the model's own probabilities (a rule
        such as the melody's tessitura) without changing whom a draw is credited to."""
        n = len(candidates)
        rule = np.ones(n) if prior is None else np.asarray(prior, dtype=np.float64)
        rule = rule / rule.sum() if rule.sum() > 0 else np.full(n, 1.0 / n)
        mixed = self._mixture(history, candidates, temper.max_order)
        if mixed is None:
            i = _pick(rng, rule)
            return Draw(candidates[i], np.zeros(self.n_sources), 1.0)
        learnt, credit = mixed
        model = np.power(learnt, 1.0 / temper.temperature)
        if bias is not None and float(np.dot(model, bias)) > 0:
            model *= np.asarray(bias, dtype=np.float64)
        model /= model.sum()
        p = (1.0 - temper.wander) * model + temper.wander * rule
        i = _pick(rng, p)
        share = (1.0 - temper.wander) * model[i] / p[i]
        per_source = share * credit[i] if learnt[i] > 0 else np.zeros(self.n_sources)
        return Draw(candidates[i], per_source, 1.0 - float(per_source.sum()))

    def _mixture(
        self, history: Sequence[T], candidates: Sequence[T], max_order: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Interpolated (Witten–Bell) probabilities of the candidates after `history`, and
        for each candidate how its probability splits between the sources (rows sum to 1).

        Each context, longest first, keeps N / (N + T) of the remaining weight (N counts
        after it, T distinct continuations) and passes the rest to the next shorter one; the
        empty context takes what is left. Only counts of allowed candidates take part."""
        n = len(candidates)
        learnt = np.zeros(n)
        by_source = np.zeros((n, self.n_sources))
        remaining = 1.0
        for k in range(min(max_order, self.max_order, len(history)), -1, -1):
            table = self._counts.get(tuple(history[len(history) - k :]) if k else ())
            if not table:
                continue
            rows = [table.get(c) for c in candidates]
            if all(r is None for r in rows):
                continue
            empty = np.zeros(self.n_sources)
            counts = np.array([empty if r is None else r for r in rows])
            totals = counts.sum(axis=1)
            seen = float(totals.sum())
            keep = seen / (seen + np.count_nonzero(totals)) if k > 0 else 1.0
            learnt += remaining * keep * totals / seen
            by_source += remaining * keep * counts / seen
            remaining *= 1.0 - keep
        if learnt.sum() <= 0:
            return None
        credit = np.divide(by_source, learnt[:, None], where=learnt[:, None] > 0,
                           out=np.zeros_like(by_source))  # fmt: skip
        return learnt / learnt.sum(), credit


def _pick(rng: np.random.Generator, p: np.ndarray) -> int:
    cumulative = np.cumsum(p)
    return min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")),
               len(p) - 1)  # fmt: skip
