"""The separation quality benchmark's own parts: the rendered test set and the scoring."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bsseval import Evaluator, museval_framewise
from bench.multitrack import SAMPLE_RATE, STEMS, Song, Track, render_track
from bench.separation_quality import _median
from cadenza.render.engine.soundfonts import DEFAULT_SOUNDFONT


@pytest.fixture(scope="module")
def track() -> Track:
    return render_track(Song.draw(1), DEFAULT_SOUNDFONT, 6.0)


def test_the_stems_sum_to_the_mix_and_each_part_sounds(track: Track) -> None:
    assert set(track.stems) == set(STEMS)
    total = np.sum([track.stems[s] for s in STEMS], axis=0, dtype=np.float32)
    np.testing.assert_array_equal(total, track.mix)
    assert track.mix.shape[1] == 2 and len(track.mix) >= 5 * SAMPLE_RATE
    assert 0.5 < float(np.abs(track.mix).max()) <= 1.0
    for stem, audio in track.stems.items():
        rms_db = 10 * np.log10(np.mean(audio.astype(np.float64) ** 2))
        assert rms_db > -40, f"{stem} is (nearly) silent: {rms_db:.1f} dB"


def test_the_lead_is_centred_and_the_chords_are_not(track: Track) -> None:
    def similarity(audio: np.ndarray) -> float:
        left, right = audio[:, 0].astype(np.float64), audio[:, 1].astype(np.float64)
        return float(2 * np.sum(left * right) / np.sum(left**2 + right**2))

    assert similarity(track.stems["vocals"]) > 0.95
    assert similarity(track.stems["other"]) < 0.9


def test_songs_differ_by_seed_and_repeat_for_the_same_one() -> None:
    assert Song.draw(3) == Song.draw(3)
    assert len({(s.tempo_bpm, s.tonic, s.groove) for s in map(Song.draw, range(4))}) == 4


def test_true_stems_score_high_and_mix_over_four_low(track: Track) -> None:
    references = np.stack([track.stems[s] for s in STEMS])
    evaluator = Evaluator(references, SAMPLE_RATE)
    true = evaluator.scores(references)
    trivial = evaluator.scores(np.repeat(track.mix[None] / 4, 4, axis=0))
    assert all(value > 60 for value in true["sdr"]), true
    assert all(-10 < value < 6 for value in trivial["sdr"]), trivial
    assert all(value < 0 for value in trivial["sir"]), trivial


def test_the_evaluator_gives_museval_s_own_figures() -> None:
    rng = np.random.default_rng(0)
    references = rng.standard_normal((3, 3 * SAMPLE_RATE + 1000, 2))
    references[1, SAMPLE_RATE : 2 * SAMPLE_RATE + 10] = 0.0  # a silent window: NaN
    estimates = references + 0.5 * rng.standard_normal(references.shape)
    estimates[0] += 0.3 * references[2]
    mine = Evaluator(references, SAMPLE_RATE).framewise(estimates)
    theirs = museval_framewise(references, estimates, SAMPLE_RATE)
    for a, b in zip(mine, theirs, strict=True):
        assert a.shape == b.shape == (3, 3)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.isnan(mine[0][:, 1]).all() and not np.isnan(mine[0][:, 0]).any()


def test_median_ignores_windows_without_a_figure() -> None:
    assert _median([1.0, float("nan"), 3.0, 2.0]) == 2.0
    assert np.isnan(_median([float("nan")]))
