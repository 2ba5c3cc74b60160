"""The learned model's encoding: corpus MIDI → tokens → MIDI → the same tokens, bar lines
where the music has them, and a grammar that only lets well-formed pieces be drawn."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.composition.learned.grammar import GrammarState
from cadenza.composition.learned.midi_out import score_to_midi
from cadenza.composition.learned.tokens import (
    HEADER_LENGTH,
    Note,
    Score,
    TokenError,
    decode,
    encode,
    header,
    score_from_midi,
    vocabulary,
    word,
)
from cadenza.music.corpus import CorpusSong, convert_work, corpus_root

WORKS = {
    "chorale": ("bach/bwv66.6.mxl", None),  # four voices, a one-beat pickup
    "jig": ("ryansMammoth/BattleTheCashJig.abc", None),
    "essen": ("essenFolksong/altdeu10.abc", 2),
    "palestrina": ("palestrina/Agnus.krn", None),
}


@pytest.fixture(scope="module")
def works() -> dict[str, CorpusSong]:
    found = {}
    for name, (path, number) in WORKS.items():
        song = convert_work(corpus_root() / path, number)
        assert song is not None, path
        found[name] = song
    return found


@pytest.mark.parametrize("name", list(WORKS))
def test_tokens_to_midi_to_tokens_is_the_identity(works: dict[str, CorpusSong], name: str) -> None:
    score = score_from_midi(works[name].midi)
    tokens = encode(score)
    decoded = decode(tokens, tonic=score.tonic)
    assert decoded.notes == score.notes
    assert (decoded.meter, decoded.mode, decoded.voices) == (score.meter, score.mode, score.voices)
    again = score_from_midi(score_to_midi(decoded), key=(score.tonic, score.mode))
    assert encode(again) == tokens
    assert len(score.notes) > 20


def test_a_chorale_reads_as_four_voices_in_c_with_its_pickup_before_the_first_bar_line(
    works: dict[str, CorpusSong],
) -> None:
    score = score_from_midi(works["chorale"].midi)
    assert score.voices == 4 and score.meter == (4, 4)
    assert (score.tonic, score.mode) == (6, "minor")  # F# minor, moved to C minor
    assert score.pickup == 12  # a quarter-note upbeat: the first notes on beat four
    first = min(score.notes)
    assert first.start == 12
    # Soprano above alto above tenor above bass, on average.
    means = [np.mean([n.pitch for n in score.notes if n.voice == v]) for v in range(4)]
    assert means == sorted(means, reverse=True)
    # The final chord lands on the tonic in the bass.
    bass = [n for n in score.notes if n.voice == 3]
    assert bass[-1].pitch % 12 == 0


def test_a_jig_keeps_its_compound_metre(works: dict[str, CorpusSong]) -> None:
    score = score_from_midi(works["jig"].midi)
    assert score.meter == (6, 8) and score.voices == 1 and score.bar_steps == 12
    words = [word(t) for t in encode(score)]
    assert words[2] == "METER:6/8"
    positions = {int(w[4:]) for w in words if w.startswith("POS:")}
    assert {0, 6} <= positions and max(positions) < 12


def test_malformed_tokens_are_refused() -> None:
    body = [word(t) for t in header("reel", (4, 4), "major", 1)]
    with pytest.raises(TokenError):
        decode([vocabulary().index(w) for w in ["BOS", "STYLE:reel"]])
    bad = [*body, "BAR", "D:4"]
    with pytest.raises(TokenError, match="without a pitch"):
        decode([vocabulary().index(w) for w in bad])


def test_every_sequence_the_grammar_allows_decodes() -> None:
    rng = np.random.default_rng(3)
    for voices in (1, 4):
        tokens = header("chorale", (3, 4), "minor", voices)
        state = GrammarState(bar_steps=12, voices=voices, bars_left=6)
        while state.expect != "end":
            allowed = np.flatnonzero(state.mask())
            token = int(rng.choice(allowed))
            tokens.append(token)
            state.advance(token)
        score = decode(tokens)
        assert score.bars <= 6
        assert all(n.voice < voices for n in score.notes)
        assert all(n.start % 12 < 12 for n in score.notes)
        # Within a position, voices ascend: each voice sounds one note per onset.
        onsets = [(n.start, n.voice) for n in score.notes]
        assert len(onsets) == len(set(onsets))
        assert decode(encode(score)[:-1] + tokens[-1:]).notes == score.notes


def test_a_score_made_in_c_is_written_in_the_key_asked_for() -> None:
    score = Score("tune", (4, 4), "major", 1, (Note(0, 0, 60, 4), Note(4, 0, 64, 4)))
    moved = score_from_midi(score_to_midi(score, tonic=7), key=(7, "major"))
    assert moved.notes == score.notes and moved.tonic == 7
    assert encode(score)[:HEADER_LENGTH] == header("tune", (4, 4), "major", 1)


def test_compound_metres_have_dotted_beats_whatever_their_denominator() -> None:
    from cadenza.composition.learned.tokens import is_compound, metric_weight

    assert is_compound((6, 8)) and is_compound((6, 4)) and is_compound((12, 8))
    assert not is_compound((3, 4)) and not is_compound((2, 2)) and not is_compound((3, 8))
    # 6/8: two beats of three eighths; 6/4: two beats of three quarters.
    assert [metric_weight(p, (6, 8)) for p in (0, 2, 6, 8)] == [4, 0, 2, 0]
    assert [metric_weight(p, (6, 4)) for p in (0, 4, 12, 16)] == [4, 0, 2, 0]
    assert [metric_weight(p, (3, 4)) for p in (0, 4, 8, 2)] == [4, 1, 1, 0]
