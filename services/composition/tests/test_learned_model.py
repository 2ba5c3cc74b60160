"""The transformer's two additions to a textbook decoder: cached decoding gives the logits a
full forward pass gives, and a style mix that is all one style is that style's token."""

from __future__ import annotations

import numpy as np
import torch

from cadenza.composition.learned.decode_step import DecodeStep
from cadenza.composition.learned.grammar import GrammarState
from cadenza.composition.learned.model import Composer, KVCache, ModelConfig
from cadenza.composition.learned.sampler import Sampler
from cadenza.composition.learned.tokens import header, token_id, vocabulary


def _model() -> Composer:
    torch.manual_seed(0)
    return Composer(ModelConfig(vocabulary=len(vocabulary()), context=48, width=32, heads=4)).eval()


def test_cached_decoding_equals_the_full_forward_pass() -> None:
    model = _model()
    tokens = torch.tensor([header("reel", (4, 4), "major", 1) + [token_id("BAR")] * 12])
    with torch.inference_mode():
        full = model(tokens)
        cache = KVCache(model.config, 1)
        stepped = [model(tokens[:, :7], cache=cache)]
        stepped.append(model(tokens[:, 7:10], cache=cache, start=7))  # several at once
        stepped += [
            model(tokens[:, i : i + 1], cache=cache, start=i) for i in range(10, tokens.shape[1])
        ]
    assert torch.allclose(torch.cat(stepped, dim=1), full, atol=1e-5)


def test_a_style_mix_of_one_style_is_that_style() -> None:
    model = _model()
    tokens = torch.tensor([header("jig", (6, 8), "minor", 1)])
    mix = torch.zeros(1, len(vocabulary()))
    mix[0, token_id("STYLE:jig")] = 1.0
    with torch.inference_mode():
        plain = model(tokens)
        mixed = model(tokens, style_mix=mix)
        other = mix.clone()
        other[0] = 0.0
        other[0, token_id("STYLE:chorale")] = 1.0
        changed = model(tokens, style_mix=other)
    assert torch.allclose(plain, mixed, atol=1e-6)
    assert not torch.allclose(plain[:, 1:], changed[:, 1:], atol=1e-4)


def test_batched_candidates_are_well_formed_and_differ() -> None:
    model = _model()
    sampler = Sampler(
        model, style_mix=None, temperature=1.0, top_p=1.0, rng=np.random.default_rng(1)
    )
    states = [GrammarState(bar_steps=12, voices=1, bars_left=2) for _ in range(3)]
    draws = sampler.candidates(header("jig", (6, 8), "minor", 1), states)
    assert all(d is not None for d in draws)
    bars = [[vocabulary()[t] for t in d.tokens].count("BAR") for d in draws if d]
    assert bars == [2, 2, 2]
    assert len({tuple(d.tokens) for d in draws if d}) > 1


def test_the_numpy_decoding_step_gives_torch_s_logits_and_fills_the_same_cache() -> None:
    model = _model()
    step = DecodeStep(model)
    tokens = torch.tensor([header("reel", (4, 4), "major", 1) + [token_id("BAR")] * 4] * 2)
    with torch.inference_mode():
        by_torch, by_numpy = KVCache(model.config, 2), KVCache(model.config, 2)
        model(tokens, cache=by_torch)
        model(tokens, cache=by_numpy)
        for position in range(tokens.shape[1], tokens.shape[1] + 5):
            new = torch.tensor([[token_id("BAR")], [token_id("POS:0")]])
            expected = model(new, cache=by_torch, start=position)[:, -1].numpy()
            got = step(new[:, 0].numpy(), position, by_numpy)
            assert np.allclose(got, expected, atol=1e-4)
    for mine, theirs in zip(by_numpy.keys, by_torch.keys, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-5)


def _mix(*styles: str) -> np.ndarray:
    mix = np.zeros(len(vocabulary()), dtype=np.float32)
    for style in styles:
        mix[token_id(f"STYLE:{style}")] += 1.0 / len(styles)
    return mix


def test_style_guidance_pushes_each_step_away_from_the_styleless_twin() -> None:
    model = _model()
    styled, neutral, guidance = _mix("reel"), _mix("reel", "jig", "hornpipe"), 1.5
    sampler = Sampler(
        model, style_mix=styled, temperature=1.0, top_p=1.0, rng=np.random.default_rng(3),
        guidance=guidance, neutral_mix=neutral,
    )  # fmt: skip
    seen: list[np.ndarray] = []
    draw_rows = sampler._draw_rows

    def recording(scores: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(scores.copy())
        return draw_rows(scores, allowed)

    sampler._draw_rows = recording  # type: ignore[method-assign,assignment]
    prompt = header("reel", (2, 2), "major", 1)
    states = [GrammarState(bar_steps=16, voices=1, bars_left=1) for _ in range(2)]
    (first, second) = sampler.candidates(prompt, states)
    assert first is not None and second is not None

    # What each row drew from, step by step: the styled model's scores pushed away from
    # the neutral one's, computed here from whole forward passes over the same tokens.
    def scores(mix: np.ndarray, tokens: list[int]) -> np.ndarray:
        with torch.inference_mode():
            logits = model(torch.tensor([tokens]), style_mix=torch.from_numpy(mix)[None])
        last: np.ndarray = logits[0, -1].double().numpy()
        return last

    for step, found in enumerate(seen[:4]):
        for row, draw in enumerate((first, second)):
            if step > len(draw.tokens):
                continue
            tokens = prompt + draw.tokens[:step]
            s, n = scores(styled, tokens), scores(neutral, tokens)
            assert np.allclose(found[row], s + guidance * (s - n), atol=1e-3)
    # Without a difference to push on (the twins would carry the sources' own mix), no twins.
    alike = Sampler(
        model, style_mix=styled, temperature=1.0, top_p=1.0, rng=np.random.default_rng(3),
        guidance=guidance, neutral_mix=styled,
    )  # fmt: skip
    assert alike.neutral_mix is None and alike.guidance == 0.0
