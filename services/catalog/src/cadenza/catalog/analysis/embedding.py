"""The 64-dimensional song embedding the catalog searches with cosine similarity (pgvector's
`<=>`), from a MIDI analysis, an audio analysis, or both.

It is transposition-invariant: pitch classes and chord roots are counted from the estimated
tonic, and intervals, rhythm, chord qualities and the scalars do not depend on the key, so a
song and its transposed copy embed identically.

Groups and weights. Each group is first scaled to unit length, then by the square root of its
share, so the whole vector has unit length and the cosine similarity of two songs is
Σ share × (the cosine of that group alone): no group can move the similarity by more than twice
its share, however many dimensions it has. Histograms are centred (their mean subtracted)
before scaling, so a group's cosine is the Pearson correlation of the two histograms: two
songs are not similar merely because both mostly use the tonic, or major chords.

| group           | dims | share | what                                                         |
|-----------------|-----:|------:|--------------------------------------------------------------|
| pitch_classes   |   12 |  0.22 | pitch-class histogram, index 0 = tonic (MIDI; else chroma)    |
| intervals       |   15 |  0.14 | melodic intervals, 0, ±1..±5, ±6–7, ±8–12 semitones          |
| chord_roots     |   12 |  0.12 | chord roots in semitones above the tonic                     |
| chord_qualities |    6 |  0.12 | major, minor, diminished, augmented, sus4, dominant 7th      |
| rhythm          |    8 |  0.14 | inter-onset intervals in quarter notes (midi.RHYTHM_BINS)    |
| mode            |    1 |  0.05 | +1 major, −1 minor                                           |
| meter           |    1 |  0.03 | +1 2 or 4 beats a bar, −1 3, 6, 9 or 12, 0 other or unknown  |
| tempo           |    2 |  0.05 | angle of log2(BPM) modulo an octave: 70 and 140 BPM agree    |
| density         |    2 |  0.04 | angle 0..π for 0.5..32 notes per second (log scale)          |
| pitch_range     |    2 |  0.03 | angle 0..π for 0..60 semitones                               |
| polyphony       |    2 |  0.03 | angle 0..π for 1..6 notes sounding                           |
| drums           |    1 |  0.03 | +1 drums play at least 5% of the notes, −1 none or fewer      |

A scalar is an angle θ stored as (cos θ, sin θ): the product of two songs' pairs is
cos(θa − θb), which depends on the difference only (1 when equal, −1 at opposite ends).
Tempo wraps around at the octave because audio beat tracking often finds half or double the
tempo a score states.

What an analysis lacks stays zero: audio gives pitch classes (from chroma), chord roots and
qualities, mode and tempo; intervals, rhythm, meter, density, range, polyphony and drums come
from MIDI only. With both, MIDI is preferred for pitch content and audio fills in what MIDI
lacks (pitch and chords when the MIDI has only drums, tempo when it states none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cadenza.catalog.analysis.audio import AudioAnalysis
from cadenza.catalog.analysis.chords import QUALITIES
from cadenza.catalog.analysis.keys import KeyEstimate
from cadenza.catalog.analysis.midi import RHYTHM_BINS, MidiAnalysis

EMBEDDING_DIM = 64
DRUM_SHARE = 0.05

# Interval histogram bins (index i is i − 12 semitones) folded to 15: 0, ±1..±5, ±6–7, ±8–12.
_INTERVAL_FOLDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("0", (0,)),
    *(
        (f"{sign}{label}", tuple(s * d for d in steps))
        for label, steps in (
            ("1", (1,)),
            ("2", (2,)),
            ("3", (3,)),
            ("4", (4,)),
            ("5", (5,)),
            ("6..7", (6, 7)),
            ("8..12", (8, 9, 10, 11, 12)),
        )
        for sign, s in (("+", 1), ("-", -1))
    ),
)


@dataclass(frozen=True)
class Group:
    name: str
    dimensions: tuple[str, ...]
    share: float
    description: str


GROUPS: tuple[Group, ...] = (
    Group(
        "pitch_classes",
        tuple(f"pc_rel_{i}" for i in range(12)),
        0.22,
        "pitch-class histogram rotated so the tonic is index 0, centred",
    ),
    Group(
        "intervals",
        tuple(f"interval_{label}" for label, _ in _INTERVAL_FOLDS),
        0.14,
        "melodic intervals of each part's top voice, folded, centred",
    ),
    Group(
        "chord_roots",
        tuple(f"chord_root_rel_{i}" for i in range(12)),
        0.12,
        "chord roots in semitones above the tonic, centred",
    ),
    Group(
        "chord_qualities",
        tuple(f"chord_{q}" for q in QUALITIES),
        0.12,
        "chord qualities, centred",
    ),
    Group(
        "rhythm",
        tuple(f"ioi_{b}" for b in RHYTHM_BINS),
        0.14,
        "inter-onset intervals in quarter notes, centred",
    ),
    Group("mode", ("mode_major",), 0.05, "+1 major, -1 minor"),
    Group("meter", ("meter_duple",), 0.03, "+1 2 or 4 beats a bar, -1 3, 6, 9 or 12, else 0"),
    Group("tempo", ("tempo_cycle_cos", "tempo_cycle_sin"), 0.05, "log2 tempo, octave-folded"),
    Group("density", ("density_cos", "density_sin"), 0.04, "notes per second, 0.5..32, log"),
    Group("pitch_range", ("pitch_range_cos", "pitch_range_sin"), 0.03, "0..60 semitones"),
    Group("polyphony", ("polyphony_cos", "polyphony_sin"), 0.03, "1..6 notes sounding"),
    Group("drums", ("drums",), 0.03, "+1 drums play at least 5% of the notes, -1 otherwise"),
)

DIMENSIONS: tuple[str, ...] = tuple(d for g in GROUPS for d in g.dimensions)
assert len(DIMENSIONS) == EMBEDDING_DIM
assert math.isclose(sum(g.share for g in GROUPS), 1.0)


def describe_dimensions() -> list[dict[str, Any]]:
    """One entry per dimension, in order: index, name, group, the group's share and meaning."""
    described: list[dict[str, Any]] = []
    for group in GROUPS:
        for name in group.dimensions:
            described.append(
                {
                    "index": len(described),
                    "name": name,
                    "group": group.name,
                    "share": group.share,
                    "description": group.description,
                }
            )
    return described


def midi_embedding(a: MidiAnalysis) -> np.ndarray:
    return song_embedding(a, None)


def audio_embedding(a: AudioAnalysis) -> np.ndarray:
    return song_embedding(None, a)


def song_embedding(midi: MidiAnalysis | None, audio: AudioAnalysis | None) -> np.ndarray:
    """The unit-length float32 embedding of a song from its MIDI and/or audio analysis."""
    if midi is None and audio is None:
        raise ValueError("a song embedding needs a MIDI or an audio analysis")
    parts: dict[str, np.ndarray] = {}
    pitched = midi is not None and bool(np.any(midi.pitch_class_histogram))
    key: KeyEstimate | None = None
    if midi is not None and pitched:
        key = midi.key
        parts["pitch_classes"] = _centred(np.roll(midi.pitch_class_histogram, -key.tonic))
        parts["chord_roots"] = _centred(midi.chord_root_histogram)
        parts["chord_qualities"] = _centred(midi.chord_quality_histogram)
    elif audio is not None:
        key = audio.key
        parts["pitch_classes"] = _centred(np.roll(audio.chroma, -key.tonic))
        parts["chord_roots"] = _centred(audio.chord_root_histogram)
        parts["chord_qualities"] = _centred(audio.chord_quality_histogram)
    if key is not None:
        parts["mode"] = np.array([1.0 if key.mode == "major" else -1.0])
    tempo = midi.tempo_bpm if midi is not None else None
    if audio is not None and (midi is None or not midi.tempo_stated):
        tempo = audio.tempo_bpm or tempo
    if tempo:
        parts["tempo"] = _angle(2 * math.pi * (math.log2(tempo / 60.0) % 1.0))
    if midi is not None:
        parts["intervals"] = _centred(_fold_intervals(midi.interval_histogram))
        parts["rhythm"] = _centred(midi.rhythm_histogram)
        parts["meter"] = np.array([_meter(midi.time_signature)])
        density = math.log2(max(midi.note_density, 1e-9) / 0.5) / math.log2(32 / 0.5)
        parts["density"] = _angle(math.pi * _clip01(density))
        parts["pitch_range"] = _angle(math.pi * _clip01(midi.pitch_range / 60))
        parts["polyphony"] = _angle(math.pi * _clip01((midi.polyphony - 1) / 5))
        drum_notes = sum(i.notes for i in midi.instruments if i.is_drum)
        parts["drums"] = np.array([1.0 if drum_notes >= DRUM_SHARE * midi.note_count else -1.0])
    vector = np.concatenate([_weighted(parts.get(g.name), g) for g in GROUPS])
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _weighted(values: np.ndarray | None, group: Group) -> np.ndarray:
    size = len(group.dimensions)
    if values is None:
        return np.zeros(size)
    norm = float(np.linalg.norm(values))
    if norm == 0:
        return np.zeros(size)
    return np.asarray(values, dtype=np.float64) / norm * math.sqrt(group.share)


def _centred(histogram: np.ndarray) -> np.ndarray:
    h = np.asarray(histogram, dtype=np.float64)
    return h - h.mean() if h.any() else np.zeros_like(h)


def _fold_intervals(histogram: np.ndarray) -> np.ndarray:
    h = np.asarray(histogram, dtype=np.float64)
    return np.array([sum(h[s + 12] for s in steps) for _, steps in _INTERVAL_FOLDS])


def _meter(time_signature: str | None) -> float:
    if time_signature is None:
        return 0.0
    beats = int(time_signature.split("/")[0])
    if beats % 3 == 0:
        return -1.0
    return 1.0 if beats in (2, 4) else 0.0


def _angle(theta: float) -> np.ndarray:
    return np.array([math.cos(theta), math.sin(theta)])


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))
