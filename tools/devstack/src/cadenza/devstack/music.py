"""Small, real pieces of music for tests and benchmarks: MIDI built with pretty_midi and a
synthetic "recording" rendered with numpy."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

# Scale degrees (semitones above the tonic) of major and harmonic minor.
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 11)


def song_midi(
    *,
    seed: int = 0,
    tonic: int = 60,
    minor: bool = False,
    tempo: float = 100.0,
    bars: int = 16,
    beats_per_bar: int = 4,
    transpose: int = 0,
    program: int = 0,
) -> bytes:
    """A melody over a I-IV-V-I style progression with a bass line, as Standard MIDI bytes.

    The same `seed` with another `transpose` gives the same piece in another key."""
    rng = np.random.default_rng(seed)
    scale = MINOR if minor else MAJOR
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(beats_per_bar, 4, 0.0))
    beat = 60.0 / tempo
    melody = pretty_midi.Instrument(program=program, name="melody")
    chords = pretty_midi.Instrument(program=48, name="strings")
    bass = pretty_midi.Instrument(program=33, name="bass")
    progression = [0, 3, 4, 0] if not minor else [0, 5, 4, 0]
    durations = np.array([0.5, 1.0, 1.0, 2.0, 0.5])
    t = 0.0
    degree = 0
    base = tonic + transpose
    for bar in range(bars):
        root = progression[bar % len(progression)]
        start = bar * beats_per_bar * beat
        for step in (0, 2, 4):
            pitch = base - 12 + scale[(root + step) % 7] + 12 * ((root + step) // 7)
            chords.notes.append(
                pretty_midi.Note(70, pitch, start, start + beats_per_bar * beat * 0.95)
            )
        for b in range(beats_per_bar):
            pitch = base - 24 + scale[root]
            bass.notes.append(
                pretty_midi.Note(90, pitch, start + b * beat, start + (b + 0.9) * beat)
            )
        end = start + beats_per_bar * beat
        t = max(t, start)
        while t < end - 1e-6:
            length = float(rng.choice(durations)) * beat
            length = min(length, end - t)
            degree = int(np.clip(degree + rng.integers(-2, 3), -3, 9))
            pitch = base + scale[degree % 7] + 12 * (degree // 7)
            melody.notes.append(pretty_midi.Note(100, pitch, t, t + length * 0.9))
            t += length
    pm.instruments.extend([melody, chords, bass])
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


def write_song_midi(path: Path, **kwargs: object) -> Path:
    path.write_bytes(song_midi(**kwargs))  # type: ignore[arg-type]
    return path


def recording(
    path: Path, *, seconds: float = 30.0, seed: int = 0, sample_rate: int = 22050
) -> Path:
    """A synthetic "recording": random harmonic notes and noise drum hits, stereo WAV."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    audio = np.zeros(n)
    step = int(0.25 * sample_rate)
    for start in range(0, n - step, step):
        freq = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        seg = t[: 2 * step] if start + 2 * step <= n else t[: n - start]
        envelope = np.exp(-seg * 4)
        tone = sum(np.sin(2 * np.pi * freq * k * seg) / k for k in (1, 2, 3))
        audio[start : start + len(seg)] += 0.2 * envelope * tone
        if rng.random() < 0.5:
            hit = rng.standard_normal(min(2000, n - start)) * np.exp(
                -np.arange(min(2000, n - start)) / 300
            )
            audio[start : start + len(hit)] += 0.3 * hit
    audio /= np.max(np.abs(audio)) * 1.1
    sf.write(str(path), np.stack([audio, audio * 0.9], axis=1), sample_rate, subtype="PCM_16")
    return path
