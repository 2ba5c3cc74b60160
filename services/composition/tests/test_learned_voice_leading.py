"""Parallel fifths and octaves between the outer voices are mended by moving a note to
another tone of its chord; held cadence notes stay, and a move the caller refuses is not
made."""

from __future__ import annotations

from cadenza.composition.learned.analysis import parallel_perfects
from cadenza.composition.learned.compose import VOICE_RANGES
from cadenza.composition.learned.tokens import Note
from cadenza.composition.learned.voice_leading import mend_parallels

# Four voices in C, half notes: C major → D minor → G major → C major; soprano and bass
# move G→A (a fifth over C, then over D: parallel fifths) and keep moving together.
CHORDS = [
    (79, 72, 64, 48),  # G  C  E  C   — soprano a fifth (compound) over the bass
    (81, 74, 65, 50),  # A  D  F  D   — a fifth again, both rose: parallel fifths
    (79, 74, 71, 43),  # G  D  B  G
    (72, 67, 64, 48),  # C  G  E  C
]


def _chorale() -> list[Note]:
    return [
        Note(start=8 * i, voice=v, pitch=p, duration=8)
        for i, chord in enumerate(CHORDS)
        for v, p in enumerate(chord)
    ]


def _outer(notes: list[Note]) -> int:
    lines = [sorted(n for n in notes if n.voice == v) for v in (0, 3)]
    return parallel_perfects(lines[0], lines[1])


def test_parallel_fifths_are_mended_with_a_chord_tone() -> None:
    notes = _chorale()
    assert _outer(notes) == 1
    mended, moved = mend_parallels(notes, 4, VOICE_RANGES[4], "major")
    assert _outer(mended) == 0 and moved == 1
    (changed,) = set(mended) - set(notes)
    (was,) = [n for n in notes if (n.start, n.voice) == (changed.start, changed.voice)]
    # It moved to a tone of the chord the other voices sound there, within reach, and
    # stays the outer voice it was (above or below every other).
    sounding = [n.pitch for n in notes if n.start == was.start and n.voice != was.voice]
    assert changed.pitch % 12 in {p % 12 for p in sounding}
    assert abs(changed.pitch - was.pitch) <= 9
    if changed.voice == 0:
        assert changed.pitch > max(sounding)
    else:
        assert changed.pitch < min(sounding)
    assert [(n.start, n.voice, n.duration) for n in mended] == [
        (n.start, n.voice, n.duration) for n in notes
    ]


def test_fixed_notes_stay_and_refused_moves_are_not_made() -> None:
    notes = _chorale()
    everything = frozenset(notes)
    assert mend_parallels(notes, 4, VOICE_RANGES[4], "major", fixed=everything) == (
        sorted(notes),
        0,
    )
    refused, moved = mend_parallels(
        notes, 4, VOICE_RANGES[4], "major", acceptable=lambda voice, line: False
    )
    assert (refused, moved) == (sorted(notes), 0)
    # Holding the second chord's notes, the mend moves the first chord's instead.
    second = frozenset(n for n in notes if n.start == 8)
    mended, moved = mend_parallels(notes, 4, VOICE_RANGES[4], "major", fixed=second)
    assert _outer(mended) == 0 and moved == 1
    assert {n.start for n in set(mended) - set(notes)} == {0}


def test_a_tune_has_no_outer_voices_to_mend() -> None:
    tune = [Note(start=4 * i, voice=0, pitch=60 + i, duration=4) for i in range(8)]
    assert mend_parallels(tune, 1, VOICE_RANGES[1], "major") == (tune, 0)


def test_the_accompaniment_bass_never_leaps_over_a_sixth_nor_moves_in_parallel() -> None:
    # Every pair of the key's triads in turn, twice a bar: the bass takes another chord tone
    # where the root would leap past its range's edge; under a tune that doubles it two
    # octaves up (parallel octaves at every move), the mend takes most of them away.
    from cadenza.composition.learned.analysis import TRIADS, bass_leaps
    from cadenza.composition.learned.arrange import _bass_part, _mended_bass
    from cadenza.composition.learned.form import plan_form
    from cadenza.composition.learned.tokens import Score

    for mode in ("major", "minor"):
        triads = TRIADS[mode]
        pairs = [(i, j) for i in range(len(triads)) for j in range(len(triads)) if i != j]
        chords = [(8 * k, chord) for k, chord in enumerate(c for pair in pairs for c in pair)]
        melody = tuple(Note(start, 0, 72 + triads[chord][0], 8) for start, chord in chords)
        bass = _bass_part(Score("reel", (4, 4), mode, 1, melody), chords)
        assert bass_leaps(sorted(bass)) == 0
        doubled = tuple(sorted(Note(n.start, 0, n.pitch + 24, n.duration) for n in bass))
        score = Score("reel", (4, 4), mode, 1, doubled)
        plan = plan_form("tune", len(chords) // 2 + 1, False)
        mended = sorted(_mended_bass(score, plan, [], bass))
        before = parallel_perfects(doubled, sorted(bass))
        after = parallel_perfects(doubled, mended)
        assert before > 20 and after < before / 2, (before, after)
        assert bass_leaps(mended) == 0
