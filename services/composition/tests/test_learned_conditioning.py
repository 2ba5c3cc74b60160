"""What conditions a learned blend beyond the style mix: the twin that style guidance pushes
away from (the nearest other style in the model's own style space), and which sources may
lend their bars to the prompt (those whose bar is the blend's bar)."""

from __future__ import annotations

import numpy as np

from cadenza.composition.engine.theory import Key
from cadenza.composition.learned.blend import LearnedSource, lent_bars, neutral_mix, same_bar
from cadenza.composition.learned.tokens import (
    STYLES,
    Note,
    Score,
    encode_bars,
    token_id,
    vocabulary,
)

WIDTH = 4


def _embedding(places: dict[str, list[float]]) -> np.ndarray:
    embedding = np.zeros((len(vocabulary()), WIDTH), dtype=np.float32)
    for style in STYLES:
        embedding[token_id(f"STYLE:{style}")] = [0.0, 0.0, 0.0, 1.0]
    for style, vector in places.items():
        embedding[token_id(f"STYLE:{style}")] = vector
    return embedding


def _twin(mix: np.ndarray | None) -> list[str]:
    assert mix is not None
    return [s for s in STYLES if mix[token_id(f"STYLE:{s}")] > 0]


def test_guidance_pushes_away_from_the_style_nearest_the_sources() -> None:
    space = _embedding({
        "hornpipe": [1.0, 0.0, 0.0, 0.0],
        "reel": [0.9, 0.1, 0.0, 0.0],
        "jig": [0.0, 1.0, 0.0, 0.0],
        "tune": [0.1, 0.9, 0.0, 0.0],
    })  # fmt: skip
    assert _twin(neutral_mix("tune", ["hornpipe"] * 3, space)) == ["reel"]
    assert _twin(neutral_mix("tune", ["reel", "reel", "reel"], space)) == ["hornpipe"]
    assert _twin(neutral_mix("tune", ["jig"], space)) == ["tune"]
    # Between two styles: the nearest style that is neither.
    assert _twin(neutral_mix("tune", ["hornpipe", "jig"], space)) in (["reel"], ["tune"])


def test_a_texture_with_no_other_style_has_no_twin() -> None:
    assert neutral_mix("chorale", ["chorale"], _embedding({})) is None


def test_bars_of_the_same_length_and_pulse_stand_for_each_other() -> None:
    assert same_bar((4, 4), (2, 2)) and same_bar((2, 2), (4, 4))
    assert not same_bar((2, 4), (2, 2))  # half as long
    assert not same_bar((6, 8), (3, 4))  # as long, but two beats of three against three of two
    assert same_bar((6, 8), (6, 8)) and not same_bar((12, 8), (3, 2))


def _source(meter: tuple[int, int]) -> LearnedSource:
    notes = tuple(Note(4 * i, 0, 60 + 2 * (i % 4), 4) for i in range(16))
    score = Score("hornpipe", meter, "major", 1, notes)
    return LearnedSource("a hornpipe", score, "hornpipe", "tags", 100.0, Key(0, "major"))


def test_a_common_time_source_lends_its_bars_to_a_cut_time_blend_and_a_2_4_one_does_not() -> None:
    lent = lent_bars(_source((4, 4)), "major", (2, 2), 1)
    assert lent is not None and lent.bars == 4 and lent.steps == 16
    assert lent.tokens(0, 1)[0] == token_id("BAR")
    assert lent_bars(_source((2, 4)), "major", (2, 2), 1) is None


def test_a_prompt_holds_the_piece_s_latest_bars_then_the_source_s_within_the_budget() -> None:
    from cadenza.composition.learned.compose import Prompt, _prompt_tokens
    from cadenza.composition.learned.form import Phrase
    from cadenza.composition.learned.tokens import BAR, HEADER_LENGTH, header

    lent = lent_bars(_source((4, 4)), "major", (4, 4), 1)
    prompt = Prompt(header("hornpipe", (4, 4), "major", 1), [lent])
    bar = token_id(BAR)

    def piece(bars: int) -> list[Note]:
        return [Note(4 * i, 0, 62 + i % 5, 4) for i in range(4 * bars)]

    # Early on: the source's four bars, then the piece's one bar.
    early = _prompt_tokens(prompt, Phrase(1, 4, "half"), piece(1), 0, 16, budget=187)
    assert early[:HEADER_LENGTH] == prompt.header
    assert early[HEADER_LENGTH:].count(bar) == 5
    # Later: only the piece's latest bars, whole, within the budget.
    late = _prompt_tokens(prompt, Phrase(40, 4, "half"), piece(40), 0, 16, budget=187)
    body = late[HEADER_LENGTH:]
    assert len(body) <= 187 and body[0] == bar
    assert body[-13:] == encode_bars(piece(40)[-4:], 16, first_bar=39, bars=1)
    assert len(body) + 13 > 187  # no further whole bar would have fitted
