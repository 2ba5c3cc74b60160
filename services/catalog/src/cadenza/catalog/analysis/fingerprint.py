"""Audio landmark fingerprints (a Shazam-style constellation), and how to score a match.

The audio is mixed to mono at 11025 Hz and cut into STFT frames (1024 samples, hop 256, so one
frame is FRAME_SECONDS ≈ 23 ms). Spectral peaks are the points that are the loudest in their
neighbourhood (±PEAK_FREQ_RADIUS bins, ±PEAK_TIME_RADIUS frames) and louder than
PEAK_FLOOR_DBFS; where more than MAX_PEAKS_PER_SECOND crowd one second, only the strongest
stay. Each peak (the anchor) is paired with the first FAN_OUT peaks of a target zone just
after it (1..TARGET_MAX_FRAMES frames later, within ±TARGET_MAX_BINS bins), and each pair
becomes a landmark: hash = (anchor bin, partner bin, frame distance) packed in 24 bits, which
fits a PostgreSQL integer, at the anchor's frame. Every step depends on frame differences only,
so a trimmed copy yields the same landmarks shifted by its cut position.

Matching: the same recording re-encoded, trimmed or with its gain changed shares many hashes
whose frames differ by one constant offset (song frame − query frame); an unrelated song shares
a few hashes at scattered offsets. `match_score` counts the votes in the best offset bin, and
`is_same_recording` calls it the same recording when the votes reach MIN_VOTES and
MIN_VOTE_FRACTION of the query's landmarks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.ndimage import maximum_filter

from cadenza.catalog.analysis.errors import AnalysisError

FINGERPRINT_RATE = 11025
N_FFT = 1024
HOP_LENGTH = 256
FRAME_SECONDS = HOP_LENGTH / FINGERPRINT_RATE
PEAK_FREQ_RADIUS = 15  # bins of 10.8 Hz
PEAK_TIME_RADIUS = 10  # frames
PEAK_FLOOR_DBFS = -60.0  # a sine this loud; quieter peaks are dither and reverb tails
MAX_PEAKS_PER_SECOND = 40
MIN_BIN = 4  # below ~43 Hz: rumble, not music
FAN_OUT = 5
TARGET_MAX_FRAMES = 63  # 6 bits of the hash; about 1.5 s
TARGET_MAX_BINS = 64
MIN_VOTES = 20
MIN_VOTE_FRACTION = 0.05
# Spectrogram frames computed at once: memory stays flat whatever the file's length.
CHUNK_FRAMES = 2048
_READ_SECONDS = 30.0
# At most this many samples (frames × channels) per read, whatever the file's rate and channels.
_READ_SAMPLES = 1 << 21


def landmarks(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """(N, 2) int64 rows of (hash, frame) for audio shaped (frames,) or (frames, channels),
    sorted by frame then hash, without duplicates."""
    mono = np.asarray(samples, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    if sample_rate != FINGERPRINT_RATE and mono.size:
        mono = soxr.resample(mono, sample_rate, FINGERPRINT_RATE, quality="HQ")
    frames, bins, strength = _peaks(np.ascontiguousarray(mono, dtype=np.float32))
    frames, bins = _thin(frames, bins, strength)
    return _pairs(frames, bins)


def landmarks_from_file(path: Path, *, max_seconds: float = 3600.0) -> np.ndarray:
    """The landmarks of an audio file's first `max_seconds`, read and resampled block by
    block into one preallocated buffer (an hour is 160 MB at 11025 Hz)."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            left = round(max_seconds * rate)
            if f.frames > 0:  # a size from the header; a stream without one grows the buffer
                left = min(left, int(f.frames))
            mono = np.empty(left * FINGERPRINT_RATE // rate + 1024, dtype=np.float32)
            filled = 0
            stream = soxr.ResampleStream(rate, FINGERPRINT_RATE, 1, dtype="float32")
            while True:
                per_read = min(round(_READ_SECONDS * rate), max(1, _READ_SAMPLES // f.channels))
                block = f.read(min(left, per_read), dtype="float32")
                left -= len(block)
                last = len(block) == 0 or left <= 0
                if block.ndim == 2:
                    block = block.mean(axis=1)
                out = stream.resample_chunk(np.ascontiguousarray(block), last=last)
                if filled + len(out) > len(mono):
                    mono = np.concatenate([mono[:filled], np.empty_like(mono)])
                mono[filled : filled + len(out)] = out
                filled += len(out)
                if last:
                    break
    except Exception as e:  # libsndfile's errors, and what a broken header makes of sizes
        raise AnalysisError(f"the file is not audio libsndfile can decode ({e})") from e
    return landmarks(mono[:filled], FINGERPRINT_RATE)


def match_score(query: np.ndarray, candidate_hits: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """(votes, offset in frames) of the best time offset between a query and one song.

    `query` is the query's landmarks; `candidate_hits` the (query frame, song frame) pairs of
    the song's landmarks with a hash equal to one of the query's. Hits at frames the query
    does not have are ignored. Votes are the hits sharing the most common offset (song frame −
    query frame); the earliest offset wins a tie. No hits: (0, 0).
    """
    hits = np.array(list(candidate_hits), dtype=np.int64).reshape(-1, 2)
    query_frames = np.asarray(query, dtype=np.int64).reshape(-1, 2)[:, 1]
    hits = hits[np.isin(hits[:, 0], query_frames)]
    if not len(hits):
        return 0, 0
    offsets, votes = np.unique(hits[:, 1] - hits[:, 0], return_counts=True)
    best = int(np.argmax(votes))
    return int(votes[best]), int(offsets[best])


def is_same_recording(votes: int, query_landmarks: int) -> bool:
    """Whether a match's best-offset votes mean the query is (part of) the same recording.

    Re-encoded and trimmed copies keep far more than MIN_VOTE_FRACTION of their landmarks at
    one offset (the tests measure about half); unrelated songs reach a handful of votes.
    """
    return votes >= max(MIN_VOTES, MIN_VOTE_FRACTION * query_landmarks)


def _peaks(mono: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame, bin, dB) of the spectral peaks, computed CHUNK_FRAMES frames at a time."""
    total = 0 if len(mono) < N_FFT else 1 + (len(mono) - N_FFT) // HOP_LENGTH
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(mono, N_FFT) if total else mono[:0]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for first in range(0, total, CHUNK_FRAMES):
        # Neighbours beyond the chunk take part in the maximum; their peaks are the next chunk's.
        lo = max(0, first - PEAK_TIME_RADIUS)
        hi = min(total, first + CHUNK_FRAMES + PEAK_TIME_RADIUS)
        frames = windows[lo * HOP_LENGTH : (hi - 1) * HOP_LENGTH + 1 : HOP_LENGTH] * window
        magnitude = np.abs(np.fft.rfft(frames, axis=1))[:, : N_FFT // 2].astype(np.float64)
        level = 20 * np.log10(np.maximum(magnitude, 1e-10) / (N_FFT / 4))
        # Tiny ramps decide between exactly equal neighbours (a steady synthetic tone) the
        # same way wherever the audio starts: later frame, then higher bin.
        level += 1e-6 * np.arange(lo, hi)[:, None] + 1e-9 * np.arange(level.shape[1])
        local_max = maximum_filter(
            level,
            size=(2 * PEAK_TIME_RADIUS + 1, 2 * PEAK_FREQ_RADIUS + 1),
            mode="constant",
            cval=-np.inf,
        )
        is_peak = (level == local_max) & (level > PEAK_FLOOR_DBFS)
        is_peak[:, :MIN_BIN] = False
        is_peak[: first - lo] = False
        is_peak[first - lo + CHUNK_FRAMES :] = False
        t, f = np.nonzero(is_peak)
        found.append((t + lo, f, level[t, f]))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    frames_, bins, strength = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return frames_.astype(np.int64), bins.astype(np.int64), strength


def _thin(
    frames: np.ndarray, bins: np.ndarray, strength: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keep a peak when fewer than MAX_PEAKS_PER_SECOND peaks within half a second either
    side are stronger: a sliding limit, so it does not depend on where the audio starts."""
    order = np.lexsort((bins, frames))
    frames, bins, strength = frames[order], bins[order], strength[order]
    reach = round(0.5 / FRAME_SECONDS)
    stronger = np.zeros(len(frames), dtype=np.int64)
    for k in range(1, len(frames)):
        near = frames[k:] - frames[:-k] <= reach
        if not near.any():
            break
        stronger[:-k] += near & (strength[k:] > strength[:-k])
        stronger[k:] += near & (strength[:-k] > strength[k:])
    keep = stronger < MAX_PEAKS_PER_SECOND
    return frames[keep], bins[keep]


def _pairs(frames: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Pair each anchor with the first FAN_OUT peaks of its target zone; hash the pairs."""
    paired = np.zeros(len(frames), dtype=np.int64)
    hashes: list[np.ndarray] = []
    anchors: list[np.ndarray] = []
    for k in range(1, len(frames)):
        dt = frames[k:] - frames[:-k]
        in_reach = dt <= TARGET_MAX_FRAMES
        if not in_reach.any():
            break
        take = (
            in_reach
            & (dt >= 1)
            & (np.abs(bins[k:] - bins[:-k]) <= TARGET_MAX_BINS)
            & (paired[:-k] < FAN_OUT)
        )
        i = np.flatnonzero(take)
        paired[i] += 1
        hashes.append((bins[i] << 15) | (bins[i + k] << 6) | dt[i])
        anchors.append(frames[i])
    if not hashes:
        return np.zeros((0, 2), dtype=np.int64)
    rows = np.unique(np.column_stack([np.concatenate(hashes), np.concatenate(anchors)]), axis=0)
    return rows[np.lexsort((rows[:, 0], rows[:, 1]))]
