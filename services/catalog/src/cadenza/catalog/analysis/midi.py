"""What a Standard MIDI File holds: tempo, meter, key, instruments, and the pitch, interval,
chord and rhythm statistics the song embedding is built from.

cadenza.music.midi_file parses and loads the file (mido, then pretty_midi, which maps ticks
to seconds and pairs notes), refusing absurd files before anything large is built and moving
tempo, meter and key events into the first track, so pretty_midi neither misses nor warns
about them. Every way a file can be unusable there becomes an AnalysisError with the same
sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pretty_midi

from cadenza.catalog.analysis.chords import chord_histograms
from cadenza.catalog.analysis.errors import AnalysisError, describe_seconds
from cadenza.catalog.analysis.keys import KeyEstimate, estimate_key, key_name
from cadenza.music.midi_file import (
    MidiFileError,
    load_pretty_midi,
    parse_midi,
    states_tempo,
    unwrap_riff,
)
from cadenza.music.timing import quarter_clock

TEMPO_RANGE_BPM = (10.0, 1000.0)
# Notes starting this close together are one onset (a chord played by hand is not a rhythm).
ONSET_TOLERANCE_S = 0.03
# Inter-onset intervals in quarter notes (MIDI's beat, whatever the meter): each bin is named
# by the note value at its centre; edges lie halfway between centres on a log scale.
RHYTHM_BINS: tuple[str, ...] = ("<=1/4", "1/3", "1/2", "3/4", "1", "3/2", "2", ">=3")
_RHYTHM_CENTRES = np.array([1 / 4, 1 / 3, 1 / 2, 3 / 4, 1.0, 3 / 2, 2.0, 3.0])
_RHYTHM_EDGES = np.sqrt(_RHYTHM_CENTRES[:-1] * _RHYTHM_CENTRES[1:])
INTERVAL_RANGE = 12  # melodic intervals -12..+12 semitones, larger ones clipped


@dataclass(frozen=True)
class Instrument:
    program: int
    name: str
    is_drum: bool
    notes: int


@dataclass(frozen=True, eq=False)
class MidiAnalysis:
    duration_s: float
    tempo_bpm: float  # the tempo that lasts longest; 120 when the file sets none
    tempo_stated: bool  # whether the file sets a tempo at all
    time_signature: str | None  # the one that lasts longest, "3/4"
    key: KeyEstimate
    instruments: tuple[Instrument, ...]
    note_count: int
    note_density: float  # notes per second, drums included
    # Each histogram sums to 1, or is all zeros when the file has nothing to count.
    pitch_class_histogram: np.ndarray  # 12, absolute (0 = C), weighted by duration
    interval_histogram: np.ndarray  # 25, melodic intervals -12..+12 of each part's top voice
    chord_quality_histogram: np.ndarray  # 6, in chords.QUALITIES order, one chord per quarter
    chord_root_histogram: np.ndarray  # 12, roots relative to key.tonic
    rhythm_histogram: np.ndarray  # 8, inter-onset intervals in RHYTHM_BINS
    pitch_range: int  # semitones from the lowest to the highest pitched note
    polyphony: float  # mean pitched notes sounding while any is

    def summary(self) -> dict[str, Any]:
        """JSON-safe facts for the catalog's `analysis` column."""
        return {
            "duration_s": round(self.duration_s, 3),
            "tempo_bpm": round(self.tempo_bpm, 2),
            "tempo_stated": self.tempo_stated,
            "time_signature": self.time_signature,
            "key": key_name(self.key.tonic, self.key.mode),
            "key_confidence": round(self.key.confidence, 4),
            "instruments": [
                {"program": i.program, "name": i.name, "is_drum": i.is_drum, "notes": i.notes}
                for i in self.instruments
            ],
            "note_count": self.note_count,
            "note_density": round(self.note_density, 4),
            "pitch_range": self.pitch_range,
            "polyphony": round(self.polyphony, 4),
            "pitch_class_histogram": _rounded(self.pitch_class_histogram),
            "interval_histogram": _rounded(self.interval_histogram),
            "chord_quality_histogram": _rounded(self.chord_quality_histogram),
            "chord_root_histogram": _rounded(self.chord_root_histogram),
            "rhythm_histogram": _rounded(self.rhythm_histogram),
        }


def analyse_midi(
    data: bytes, *, max_seconds: float = 3600, max_notes: int = 500_000
) -> MidiAnalysis:
    """Analyse a Standard MIDI File's bytes; AnalysisError says why a file cannot be used."""
    try:
        midi = parse_midi(unwrap_riff(data), max_notes=max_notes)
        tempo_stated = states_tempo(midi)
        pm = load_pretty_midi(midi)
    except MidiFileError as e:
        raise AnalysisError(str(e)) from e
    notes = [n for inst in pm.instruments for n in inst.notes]
    if not notes:
        raise AnalysisError("the MIDI file has no notes")
    duration = float(pm.get_end_time())
    if duration > max_seconds:
        raise AnalysisError(
            f"the MIDI file lasts {describe_seconds(duration)};"
            f" the limit is {describe_seconds(max_seconds)}"
        )
    tempo_times, tempi = pm.get_tempo_changes()
    longest_tempo = _longest(list(tempi), list(tempo_times), duration)
    # Rounded: MIDI stores whole microseconds per quarter, so 132 BPM reads as 132.000132.
    tempo = 120.0 if longest_tempo is None else round(float(longest_tempo), 3)
    low, high = TEMPO_RANGE_BPM
    if not low <= tempo <= high:
        raise AnalysisError(
            f"the MIDI file's tempo is {tempo:,.0f} BPM;"
            f" the analysis reads {low:.0f} to {high:.0f} BPM"
        )
    signatures = pm.time_signature_changes
    meter = _longest(
        [f"{s.numerator}/{s.denominator}" for s in signatures],
        [s.time for s in signatures],
        duration,
    )
    beat_position = quarter_clock(tempo_times, tempi)

    pitched = [inst for inst in pm.instruments if not inst.is_drum and inst.notes]
    start, end, pitch = _note_arrays([n for inst in pitched for n in inst.notes])
    pitch_classes = _normalised(np.bincount(pitch % 12, weights=end - start, minlength=12))
    if pitch.size and not pitch_classes.any():  # only zero-length notes: count them instead
        pitch_classes = _normalised(np.bincount(pitch % 12, minlength=12).astype(np.float64))
    key = estimate_key(pitch_classes)
    chroma = _quarter_chroma(beat_position(start), beat_position(end), pitch)
    qualities, roots = chord_histograms(chroma, key.tonic)
    all_onsets = np.array([n.start for n in notes])
    return MidiAnalysis(
        duration_s=duration,
        tempo_bpm=tempo,
        tempo_stated=tempo_stated,
        time_signature=meter,
        key=key,
        instruments=tuple(_instrument(inst) for inst in pm.instruments if inst.notes),
        note_count=len(notes),
        note_density=len(notes) / duration if duration > 0 else 0.0,
        pitch_class_histogram=_frozen(pitch_classes),
        interval_histogram=_frozen(_intervals(pitched)),
        chord_quality_histogram=_frozen(qualities),
        chord_root_histogram=_frozen(roots),
        rhythm_histogram=_frozen(_rhythm(beat_position(_onsets(all_onsets)))),
        pitch_range=int(pitch.max() - pitch.min()) if pitch.size else 0,
        polyphony=_polyphony(start, end),
    )


def _longest(values: list[Any], times: list[float], end: float) -> Any:
    """The value that holds for the longest total time (the first of equals), or None."""
    if not values:
        return None
    bounds = [*times[1:], max(end, times[-1])]
    held: dict[Any, float] = {}
    for value, t0, t1 in zip(values, times, bounds, strict=True):
        key = round(float(value), 6) if isinstance(value, float | np.floating) else value
        held[key] = held.get(key, 0.0) + max(0.0, t1 - t0)
    return max(held, key=lambda k: held[k])  # dicts keep first-seen order: ties go first


def _note_arrays(notes: list[pretty_midi.Note]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = np.array([n.start for n in notes], dtype=np.float64)
    end = np.maximum(np.array([n.end for n in notes], dtype=np.float64), start)
    pitch = np.array([n.pitch for n in notes], dtype=np.int64)
    return start, end, pitch


def _quarter_chroma(a: np.ndarray, b: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(quarters, 12) how long each pitch class sounds in each quarter note, in quarters."""
    if not pitch.size:
        return np.zeros((0, 12))
    pc = pitch % 12
    first = np.floor(a).astype(np.int64)
    last = np.maximum(np.ceil(b).astype(np.int64) - 1, first)  # a note ending on a bar line
    chroma = np.zeros((int(last.max()) + 2, 12))
    single = first == last
    np.add.at(chroma, (first[single], pc[single]), (b - a)[single])
    span = ~single
    np.add.at(chroma, (first[span], pc[span]), (first + 1 - a)[span])
    np.add.at(chroma, (last[span], pc[span]), (b - last)[span])
    covered = np.zeros_like(chroma)  # quarters a note sounds through whole: a running count
    np.add.at(covered, (first[span] + 1, pc[span]), 1.0)
    np.add.at(covered, (last[span], pc[span]), -1.0)
    return np.asarray(chroma + np.cumsum(covered, axis=0))[:-1]


def _onsets(starts: np.ndarray) -> np.ndarray:
    """Distinct onset times: notes within ONSET_TOLERANCE_S of the previous one join it."""
    starts = np.sort(starts)
    distinct: np.ndarray = starts[np.concatenate([[True], np.diff(starts) > ONSET_TOLERANCE_S])]
    return distinct


def _intervals(parts: list[pretty_midi.Instrument]) -> np.ndarray:
    counts = np.zeros(2 * INTERVAL_RANGE + 1)
    for part in parts:
        start, _, pitch = _note_arrays(part.notes)
        order = np.argsort(start, kind="stable")
        start, pitch = start[order], pitch[order]
        new_onset = np.concatenate([[True], np.diff(start) > ONSET_TOLERANCE_S])
        top = np.maximum.reduceat(pitch, np.flatnonzero(new_onset))
        steps = np.clip(np.diff(top), -INTERVAL_RANGE, INTERVAL_RANGE) + INTERVAL_RANGE
        counts += np.bincount(steps, minlength=counts.size)
    return _normalised(counts)


def _rhythm(onset_quarters: np.ndarray) -> np.ndarray:
    gaps = np.diff(onset_quarters)
    return _normalised(
        np.bincount(np.digitize(gaps, _RHYTHM_EDGES), minlength=len(RHYTHM_BINS)).astype(float)
    )


def _polyphony(start: np.ndarray, end: np.ndarray) -> float:
    if not start.size:
        return 0.0
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)
    opens = np.concatenate([[True], start[1:] > reach[:-1]])
    block_start = start[opens]
    block_end = np.append(reach[np.flatnonzero(opens)[1:] - 1], reach[-1])
    sounding = float(np.sum(block_end - block_start))
    return float(np.sum(end - start)) / sounding if sounding > 0 else 1.0


def _instrument(inst: pretty_midi.Instrument) -> Instrument:
    name = inst.name.strip()
    if not name:
        name = "Drums" if inst.is_drum else pretty_midi.program_to_instrument_name(inst.program)
    return Instrument(
        program=int(inst.program), name=name, is_drum=bool(inst.is_drum), notes=len(inst.notes)
    )


def _normalised(counts: np.ndarray) -> np.ndarray:
    total = float(counts.sum())
    return counts / total if total > 0 else np.zeros_like(counts, dtype=np.float64)


def _frozen(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    values.setflags(write=False)
    return values


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]
