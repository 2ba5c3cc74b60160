"""Drawing bars from the model: a prompt (header, then earlier bars), then token after token,
each drawn from the model's distribution sharpened or flattened by the temperature, cut to
its nucleus (top-p) and masked by the grammar, with a key/value cache so each token costs
one position's work. When the window is full the oldest bars make room (the header stays).

`candidates` draws several continuations of one prompt at once, one per row of a batch: on a
CPU a step of a small model costs the reading of its weights, so four rows cost about what
one does, and the composer can choose among them.

Style guidance (`guidance` g > 0), as classifier-free guidance does with a condition: each
row has a twin whose header carries another style (the blend's nearest neighbour: for reels
the hornpipe) instead of the sources' mix, and the row draws from s + g·(s − n), its
scores pushed away from the twin's. What makes a reel a reel rather than a hornpipe is
drawn more strongly; the twins cost a few per cent more per step (they are rows of
the same batch). The window-sliding fallback (`bars`) draws unguided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cadenza.composition.learned.decode_step import DecodeStep
from cadenza.composition.learned.grammar import GrammarState
from cadenza.composition.learned.model import Composer, KVCache
from cadenza.composition.learned.tokens import BAR, EOS, HEADER_LENGTH, token_id


@dataclass
class Draw:
    tokens: list[int]  # the new body tokens (BAR … for each bar), EOS not included
    log_probability: float  # of the drawn tokens under the (tempered, masked) distribution


class Sampler:
    def __init__(
        self,
        model: Composer,
        *,
        style_mix: np.ndarray | None,
        temperature: float,
        top_p: float,
        rng: np.random.Generator,
        step: DecodeStep | None = None,
        guidance: float = 0.0,
        neutral_mix: np.ndarray | None = None,
    ) -> None:
        """`step`: the model's numpy decoding step, when the caller keeps one (building it
        copies the weights). `guidance` > 0 needs `style_mix` and `neutral_mix` (the header
        weights the twins carry)."""
        self.model = model
        self.style_mix = None if style_mix is None else torch.from_numpy(style_mix)[None]
        guided = (
            guidance > 0
            and style_mix is not None
            and neutral_mix is not None
            and not np.array_equal(style_mix, neutral_mix)  # nothing to push away from
        )
        self.guidance = guidance if guided else 0.0
        self.neutral_mix = torch.from_numpy(neutral_mix)[None] if guided else None
        self.temperature, self.top_p, self.rng = temperature, top_p, rng
        self.context = model.config.context
        self._anything = np.ones(model.config.vocabulary, dtype=bool)  # a finished row's mask
        self._step = step or DecodeStep(model)  # one position at a time, in numpy

    @property
    def prompt_budget(self) -> int:
        """Tokens after the header of a prompt that `candidates` keeps whole: it leaves half
        the window for the draw."""
        return self.context - self.context // 2 - HEADER_LENGTH

    @torch.inference_mode()
    def bars(self, prompt: Sequence[int], state: GrammarState) -> Draw:
        """Draw `state.bars_left` bars after `prompt` (a header and whole bars), one row,
        sliding the window when it fills (the composer's fallback when every row of a batch
        outgrew it)."""
        window = self._fit(list(prompt), room=self.context // 3)
        cache = KVCache(self.model.config, 1)
        scores = self._run(window, cache)
        drawn: list[int] = []
        total = 0.0
        while True:
            tokens, chances = self._draw_rows(scores[None], state.mask()[None])
            token = int(tokens[0])
            total += float(chances[0])
            if token == token_id(EOS):
                break
            drawn.append(token)
            state.advance(token)
            window.append(token)
            if len(window) >= self.context:
                window = self._fit(window, room=self.context // 2)
                scores = self._run(window, cache)
            else:
                scores = self._step(np.array([token]), len(window) - 1, cache)[0].astype(np.float64)
        return Draw(drawn, total)

    @torch.inference_mode()
    def candidates(self, prompt: Sequence[int], states: list[GrammarState]) -> list[Draw | None]:
        """One draw per grammar state, in lockstep; a row that would outgrow the window
        before its bars are done is dropped (None)."""
        window = self._fit(list(prompt), room=self.context // 2)
        rows = len(states)
        # The prompt is the same for every row: run once (and once more for the twins, under
        # the other style), its keys and values copied to each row.
        mixes = [self.style_mix] if self.neutral_mix is None else [self.style_mix, self.neutral_mix]
        cache = KVCache(self.model.config, rows * len(mixes))
        last = []
        for twin, mix in enumerate(mixes):
            once = KVCache(self.model.config, 1)
            batch = torch.tensor([window], dtype=torch.long)
            logits = self.model(batch, style_mix=mix, cache=once, start=0)
            last.append(np.repeat(logits[:, -1].double().numpy(), rows, axis=0))
            taken = slice(twin * rows, (twin + 1) * rows)
            for layer, (keys, values) in enumerate(zip(once.keys, once.values, strict=True)):
                cache.keys[layer][taken, :, : len(window)] = keys[:, :, : len(window)]
                cache.values[layer][taken, :, : len(window)] = values[:, :, : len(window)]
        scores = self._guided(np.concatenate(last))
        drawn: list[list[int]] = [[] for _ in range(rows)]
        totals = [0.0] * rows
        done = [False] * rows
        length = len(window)
        pad = token_id(EOS)
        while not all(done):
            if length >= self.context:
                return [
                    Draw(d, t) if ok else None for d, t, ok in zip(drawn, totals, done, strict=True)
                ]
            step = []
            masks = np.stack([state.mask() if not done[r] else self._anything for r, state
                              in enumerate(states)])  # fmt: skip
            tokens, chances = self._draw_rows(scores, masks)
            for row, state in enumerate(states):
                if done[row]:
                    step.append(pad)
                    continue
                token, chance = int(tokens[row]), float(chances[row])
                totals[row] += chance
                if token == token_id(EOS):
                    done[row] = True
                else:
                    drawn[row].append(token)
                    state.advance(token)
                step.append(token)
            if all(done):
                break
            tokens = np.tile(np.array(step), len(mixes))
            scores = self._guided(self._step(tokens, length, cache).astype(np.float64))
            length += 1
        return [Draw(d, t) for d, t in zip(drawn, totals, strict=True)]

    def _guided(self, scores: np.ndarray) -> np.ndarray:
        """Rows' scores, pushed away from their twins' (the second half) when guided."""
        if self.neutral_mix is None:
            return scores
        styled, neutral = np.split(scores, 2)
        guided: np.ndarray = styled + self.guidance * (styled - neutral)
        return guided

    def _fit(self, tokens: list[int], room: int) -> list[int]:
        """The header and as many of the latest whole bars as leave `room` free."""
        if len(tokens) + room <= self.context:
            return tokens
        header, body = tokens[:HEADER_LENGTH], tokens[HEADER_LENGTH:]
        keep = self.context - room - HEADER_LENGTH
        cut = len(body) - keep
        bar = token_id(BAR)
        while cut < len(body) and body[cut] != bar:
            cut += 1
        return header + body[cut:]

    def _run(self, tokens: Sequence[int], cache: KVCache) -> np.ndarray:
        """The next token's logits after `tokens`, run from the start of the window."""
        batch = torch.tensor([list(tokens)], dtype=torch.long)
        logits = self.model(batch, style_mix=self.style_mix, cache=cache, start=0)
        last: np.ndarray = logits[0, -1].double().numpy()
        return last

    def _draw_rows(self, logits: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`_draw` for every row at once: (tokens, their log-probabilities)."""
        scores = np.where(allowed, logits / max(self.temperature, 1e-3), -np.inf)
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        order = np.argsort(-p, axis=1, kind="stable")
        ranked = np.take_along_axis(p, order, axis=1)
        last = (np.cumsum(ranked, axis=1) < self.top_p).sum(axis=1)  # the nucleus ends here
        nucleus = np.where(np.arange(p.shape[1]) <= last[:, None], ranked, 0.0)
        nucleus /= nucleus.sum(axis=1, keepdims=True)
        u = np.asarray(self.rng.random(size=p.shape[0]))
        picked = np.minimum((np.cumsum(nucleus, axis=1) < u[:, None]).sum(axis=1), last)
        rows = np.arange(p.shape[0])
        tokens = order[rows, picked]
        return tokens, np.log(p[rows, tokens])
