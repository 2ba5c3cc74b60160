"""The originality guard: the run measure on constructed melodies, the repair on a copied
phrase, and blends (a source with itself, a scale exercise that invites copying) that stay
within 8 shared notes, with the summary's figure recomputed from the MIDI."""

from __future__ import annotations

import io
from functools import partial

import numpy as np
import pretty_midi
import pytest

from cadenza.composition.engine import (
    LIMIT,
    BlendParams,
    SourceSong,
    blend,
    longest_exact_run,
    longest_shared_run,
)
from cadenza.composition.engine.compose import comparison_lines
from cadenza.composition.engine.melody import Note
from cadenza.composition.engine.originality import OriginalityGuard, pitch_run_in_units
from cadenza.composition.engine.sources import read_source
from cadenza.composition.engine.theory import parse_key
from cadenza.composition.engine.units import UNITS_PER_BEAT

# The Markov engine, named (the learned one is the default).
markov = partial(BlendParams, engine="markov")

# 20 notes of a tune in quarters and eighths.
SOURCE = list(zip(
    [67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 69, 71, 67, 64, 62, 64, 66, 67, 67],
    [1, 0.5, 0.5, 1, 1, 0.5, 0.5, 1, 2, 1, 1, 0.5, 0.5, 1, 1, 1, 0.5, 0.5, 1, 2],
    strict=True,
))  # fmt: skip
FILLER = [(60, 0.75), (79, 0.75), (61, 0.75), (80, 0.75)]  # durations the source never has


def test_an_embedded_ten_note_run_measures_ten() -> None:
    melody = FILLER + SOURCE[3:13] + FILLER
    assert longest_shared_run(melody, [SOURCE]) == 10
    assert longest_exact_run(melody, [SOURCE]) == 10


def test_a_transposed_copy_is_still_a_copy() -> None:
    moved = [(p + 5, d) for p, d in SOURCE[3:13]]
    melody = FILLER + moved + FILLER
    assert longest_shared_run(melody, [SOURCE]) == 10
    assert longest_exact_run(melody, [SOURCE]) == 1  # only (74, 1) sounds in both
    octave = [(p - 12, d) for p, d in SOURCE]
    assert longest_shared_run(octave, [SOURCE]) == 20


def test_a_changed_duration_or_interval_breaks_the_run() -> None:
    melody = SOURCE[3:13].copy()
    melody[5] = (melody[5][0], 4.0)  # the 6th note held longer: runs of 5 and 4 remain
    assert longest_shared_run(FILLER + melody + FILLER, [SOURCE]) == 5
    melody = SOURCE[3:13].copy()
    melody[4] = (melody[4][0] + 1, melody[4][1])  # one pitch moved: intervals around it differ
    assert longest_shared_run(melody, [SOURCE]) == 5


def test_the_longest_run_over_several_sources_counts() -> None:
    other = [(p + 2, d) for p, d in SOURCE[::-1]]
    melody = SOURCE[:4] + FILLER + other[2:11]
    assert longest_shared_run(melody, [SOURCE, other]) == 9
    assert longest_shared_run(melody, [SOURCE]) == 4
    assert longest_shared_run([], [SOURCE]) == 0
    assert longest_shared_run(FILLER, [SOURCE]) == 0  # not one duration in common


def test_repair_changes_pitches_until_no_nine_note_window_is_copied() -> None:
    line = [(p, round(d * UNITS_PER_BEAT)) for p, d in SOURCE]
    guard = OriginalityGuard([line])
    notes, start = [], 0
    for p, d in line[2:16]:
        notes.append(Note(start, d, p))
        start += d
    assert guard.copied_windows(notes)

    def alternatives(note: Note) -> list[int]:
        return sorted((p for p in range(60, 82) if p != note.pitch),
                      key=lambda p: abs(p - note.pitch))  # fmt: skip

    changed = guard.repair(notes, 0, alternatives)
    assert 1 <= changed <= 3
    assert guard.copied_windows(notes) == []
    assert [n.duration for n in notes] == [d for _, d in line[2:16]]  # rhythm untouched
    melody = [(n.pitch, n.duration / UNITS_PER_BEAT) for n in notes]
    assert longest_shared_run(melody, [SOURCE]) <= LIMIT


def test_a_quote_with_its_rhythm_changed_is_caught_and_repaired() -> None:
    line = [(p, round(d * UNITS_PER_BEAT)) for p, d in SOURCE]
    guard = OriginalityGuard([line])
    notes, start = [], 0
    for (p, _), d in zip(line[2:14], [6, 2] * 6, strict=True):  # long-short instead
        notes.append(Note(start, d, p + 5))
        start += d
    quote = [(n.pitch, n.duration / UNITS_PER_BEAT) for n in notes]
    assert longest_shared_run(quote, [SOURCE]) <= 3  # with rhythm, no copy
    assert pitch_run_in_units([(n.pitch, n.duration) for n in notes], [line]) == 12
    assert guard.copied_windows(notes)

    def alternatives(note: Note) -> list[int]:
        return sorted((p for p in range(60, 86) if p != note.pitch),
                      key=lambda p: abs(p - note.pitch))  # fmt: skip

    guard.repair(notes, 0, alternatives)
    assert guard.copied_windows(notes) == []
    assert pitch_run_in_units([(n.pitch, n.duration) for n in notes], [line]) <= LIMIT


def melody_of(midi: bytes) -> list[tuple[int, float]]:
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    (melody,) = [i for i in pm.instruments if i.name == "Melody"]
    beat = 60.0 / pm.get_tempo_changes()[1][0]
    return [(n.pitch, round((n.end - n.start) / beat * 8) / 8) for n in melody.notes]


def source_lines(songs: list[SourceSong], key: str) -> list[list[tuple[int, float]]]:
    materials = [read_source(i, s.title, s.midi, s.key, s.mode, s.tempo_bpm)
                 for i, s in enumerate(songs, start=1)]  # fmt: skip
    lines = comparison_lines(materials, parse_key(key)[0])
    return [[(p, d / UNITS_PER_BEAT) for p, d in line] for line in lines]


@pytest.mark.parametrize("seed", range(4))
def test_blends_share_at_most_eight_notes_with_any_source(
    chorales: list[SourceSong], seed: int
) -> None:
    result = blend(
        chorales,
        markov(length_bars=32, key="G major", creativity=0.1, seed=seed),
    )
    originality = result.summary["originality"]
    measured = longest_shared_run(melody_of(result.midi), source_lines(chorales, "G major"))
    assert originality["longest_shared_run"] == measured <= LIMIT
    lines = [
        [(p, round(d * UNITS_PER_BEAT)) for p, d in line]
        for line in source_lines(chorales, "G major")
    ]
    in_pitch = pitch_run_in_units(
        [(p, round(d * UNITS_PER_BEAT)) for p, d in melody_of(result.midi)], lines
    )
    assert originality["longest_pitch_run"] == in_pitch <= LIMIT
    assert originality["passed"] is True
    assert originality["compared_against"] == ["bwv66.6", "bwv1.6", "bwv347"]


def test_a_source_blended_with_itself_is_not_copied(corpus_songs: dict[str, SourceSong]) -> None:
    song = corpus_songs["bwv66.6"]
    twice = [song, SourceSong("bwv66.6 again", song.midi)]
    for seed in range(3):
        result = blend(twice, markov(length_bars=40, creativity=0.0, seed=seed))
        assert result.summary["key_name"] == "F# minor"
        measured = longest_shared_run(melody_of(result.midi), source_lines(twice, "F# minor"))
        assert result.summary["originality"]["longest_shared_run"] == measured <= LIMIT


def scale_exercise(tempo: float = 100.0) -> bytes:
    """A melody of C major scales in quarter notes over C and G chords: a generator that
    follows it closely copies it unless stopped."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    beat = 60.0 / tempo
    melody = pretty_midi.Instrument(program=0, name="Melody")
    piano = pretty_midi.Instrument(program=0, name="Piano")
    up = [60, 62, 64, 65, 67, 69, 71, 72]
    line = (up + up[::-1][1:-1]) * 6
    for i, p in enumerate(line):
        melody.notes.append(pretty_midi.Note(90, p, i * beat, (i + 1) * beat))
    for bar in range(len(line) // 4):
        chord = (48, 52, 55) if bar % 2 == 0 else (43, 47, 50)
        piano.notes += [pretty_midi.Note(70, p, bar * 4 * beat, (bar + 1) * 4 * beat)
                        for p in chord]  # fmt: skip
    pm.instruments += [melody, piano]
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


def test_the_guard_steps_in_when_the_sources_invite_copying() -> None:
    data = scale_exercise()
    songs = [SourceSong("scales", data), SourceSong("scales again", data)]
    lines = source_lines(songs, "C major")
    interventions = []
    for seed in range(6):
        result = blend(
            songs,
            markov(length_bars=32, key="C major", creativity=0.0, seed=seed),
        )
        originality = result.summary["originality"]
        assert originality["longest_shared_run"] == longest_shared_run(
            melody_of(result.midi), lines
        )
        assert originality["longest_shared_run"] <= LIMIT
        interventions.append(originality["redraws"] + originality["notes_changed"])
    assert np.sum(interventions) > 0  # some phrase was drawn again or changed
