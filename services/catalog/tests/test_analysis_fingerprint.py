"""Landmark fingerprints: a lossy copy and a trimmed excerpt of a synthetic song match it at
the right offset, an unrelated song does not."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cadenza.catalog.analysis import fingerprint
from cadenza.catalog.analysis.fingerprint import (
    FRAME_SECONDS,
    is_same_recording,
    landmarks,
    landmarks_from_file,
    match_score,
)

RATE = 44100
SECONDS = 30.0


def song(seed: int) -> np.ndarray:
    """Random notes of harmonic tones over noise drum hits, normalised to -2 dBFS peak."""
    rng = np.random.default_rng(seed)
    y = np.zeros(round(SECONDS * RATE))
    t = 0.0
    while t < SECONDS:
        seconds = float(rng.choice([0.125, 0.25, 0.5]))
        freq = 110 * 2 ** (int(rng.integers(0, 36)) / 12)
        start = round(t * RATE)
        n = min(round(seconds * RATE), len(y) - start)
        tt = np.arange(n) / RATE
        tone = sum(np.sin(2 * np.pi * freq * h * tt) / h for h in range(1, 6))
        y[start : start + n] += 0.2 * np.exp(-3 * tt) * tone
        t += seconds
    for beat in np.arange(0, SECONDS, 0.25):
        if rng.random() < 0.6:
            start = round(beat * RATE)
            n = min(2000, len(y) - start)
            y[start : start + n] += 0.3 * rng.standard_normal(n) * np.exp(-np.arange(n) / 300)
    normalised: np.ndarray = (0.8 * y / np.abs(y).max()).astype(np.float32)
    return normalised


def lossy_copy(path: Path, samples: np.ndarray) -> Path:
    """The song 3 dB quieter through MP3 where libsndfile encodes it; else with noise at
    20 dB SNR."""
    if "MP3" in sf.available_formats():
        sf.write(str(path.with_suffix(".mp3")), samples * 0.7, RATE, format="MP3")
        return path.with_suffix(".mp3")
    rng = np.random.default_rng(9)
    noise = rng.standard_normal(len(samples)) * np.sqrt(np.mean(samples**2) / 100)
    sf.write(str(path.with_suffix(".wav")), (samples + noise) * 0.7, RATE)
    return path.with_suffix(".wav")


def hits(query: np.ndarray, song_landmarks: np.ndarray) -> list[tuple[int, int]]:
    """What the database join gives: (query frame, song frame) of equal hashes."""
    frames_by_hash: defaultdict[int, list[int]] = defaultdict(list)
    for h, frame in song_landmarks:
        frames_by_hash[int(h)].append(int(frame))
    return [(int(q), s) for h, q in query for s in frames_by_hash.get(int(h), [])]


CUT_SECONDS = 12.3


@pytest.fixture(scope="module")
def votes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int, int]]:
    """(votes, offset, query landmarks) of each query against the original song."""
    d = tmp_path_factory.mktemp("fingerprint")
    original = song(1)
    reference = landmarks(original, RATE)
    excerpt = d / "excerpt.wav"
    sf.write(str(excerpt), original[round(CUT_SECONDS * RATE) :][: 10 * RATE], RATE)
    queries = {
        "lossy": landmarks_from_file(lossy_copy(d / "lossy", original)),
        "excerpt": landmarks_from_file(excerpt),
        "unrelated": landmarks(song(2), RATE),
    }
    return {
        name: (*match_score(query, hits(query, reference)), len(query))
        for name, query in queries.items()
    }


def test_a_lossy_copy_matches_at_offset_zero(votes: dict[str, tuple[int, int, int]]) -> None:
    count, offset, size = votes["lossy"]
    assert offset == 0
    assert is_same_recording(count, size)


def test_an_excerpt_matches_at_its_cut(votes: dict[str, tuple[int, int, int]]) -> None:
    count, offset, size = votes["excerpt"]
    assert abs(offset - CUT_SECONDS / FRAME_SECONDS) <= 1
    assert is_same_recording(count, size)


def test_an_unrelated_song_does_not_match(votes: dict[str, tuple[int, int, int]]) -> None:
    count, _, size = votes["unrelated"]
    assert not is_same_recording(count, size)
    assert votes["lossy"][0] > 20 * max(count, 1)
    assert votes["excerpt"][0] > 20 * max(count, 1)


def test_landmarks_fit_a_postgres_integer_at_a_bounded_density() -> None:
    found = landmarks(song(3), RATE)
    assert found.dtype == np.int64
    assert found.shape[1] == 2
    assert (found[:, 0] >= 0).all() and (found[:, 0] < 2**31).all()
    assert len(np.unique(found, axis=0)) == len(found)
    per_second = len(found) / SECONDS
    limit = fingerprint.FAN_OUT * fingerprint.MAX_PEAKS_PER_SECOND
    assert 30 < per_second <= limit


def test_chunking_does_not_change_the_landmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = song(4)[: 8 * RATE]
    whole = landmarks(samples, RATE)
    monkeypatch.setattr(fingerprint, "CHUNK_FRAMES", 97)
    assert np.array_equal(landmarks(samples, RATE), whole)


def test_silence_and_tiny_clips_have_no_landmarks() -> None:
    assert landmarks(np.zeros(RATE * 2, dtype=np.float32), RATE).shape == (0, 2)
    assert landmarks(np.ones(100, dtype=np.float32), RATE).shape == (0, 2)


def test_stereo_is_mixed_down() -> None:
    mono = song(5)[: 5 * RATE]
    assert np.array_equal(landmarks(np.stack([mono, mono], axis=1), RATE), landmarks(mono, RATE))


def test_match_score_counts_the_best_offset() -> None:
    query = np.array([[11, 0], [12, 1], [13, 2], [14, 5]])
    assert match_score(query, [(0, 10), (1, 11), (2, 12), (5, 3), (7, 17)]) == (3, 10)
    assert match_score(query, []) == (0, 0)
    # a tie goes to the earliest offset
    assert match_score(query, [(0, 10), (1, 4)]) == (1, 3)


def test_same_recording_needs_enough_votes() -> None:
    assert is_same_recording(50, 200)
    assert not is_same_recording(fingerprint.MIN_VOTES - 1, 10)
    assert not is_same_recording(100, 10_000)
