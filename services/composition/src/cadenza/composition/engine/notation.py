"""The piece as a MusicXML lead sheet, written by music21: the melody with chord symbols and
lyrics, the chords as one block chord per bar (a reduction of the comping), and the bass.
The drums are left out of the score (MusicXML percussion notation adds much for little).

The measures are built complete (rests fill every gap, no note crosses a bar line) so the
exporter can skip music21's makeNotation pass, the slow part of writing a score. music21 is
imported on first use (importing it takes over a second) and is untyped here (`Any`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cadenza.composition.engine.arrangement import Part
from cadenza.composition.engine.lyrics import Syllable
from cadenza.composition.engine.theory import Chord, Key
from cadenza.composition.engine.units import BAR_UNITS, UNITS_PER_BEAT

# Note values a gap is filled with, longest first, in units.
_REST_VALUES = (32, 24, 16, 12, 8, 6, 4, 3, 2, 1)
_KINDS = {"maj": "major", "min": "minor", "dim": "diminished", "aug": "augmented",
          "7": "dominant-seventh", "maj7": "major-seventh", "m7": "minor-seventh"}  # fmt: skip


def write_musicxml(
    *,
    title: str,
    key_: Key,
    tempo_bpm: float,
    chords: Sequence[Chord],
    parts: Sequence[Part],
    lyrics: Mapping[int, Syllable],
) -> bytes:
    """`lyrics` maps an index into the melody part's notes to the syllable sung there."""
    m21 = _music21()
    bars = len(chords)
    by_role = {p.role: p for p in parts}
    melody, melody_bars = _part("Melody", key_, tempo_bpm, bars, m21.clef.TrebleClef())
    for i, n in enumerate(by_role["melody"].notes):
        element = _note(key_, n.pitch, n.duration)
        syllable = lyrics.get(i)
        if syllable is not None:
            element.lyrics.append(m21.note.Lyric(text=syllable.text, syllabic=syllable.syllabic))
        melody_bars[n.start // BAR_UNITS].insert(_offset(n.start), element)
    for bar, c in enumerate(chords):
        root = _m21_name(key_.pitch_name(key_.tonic + c.root))
        melody_bars[bar].insert(0, m21.harmony.ChordSymbol(root=root, kind=_KINDS[c.quality]))

    block, block_bars = _part("Chords", key_, tempo_bpm, bars, m21.clef.TrebleClef())
    per_bar: list[set[int]] = [set() for _ in range(bars)]
    for n in by_role["chords"].notes:
        per_bar[n.start // BAR_UNITS].add(n.pitch)
    for bar, pitches in enumerate(per_bar):
        if pitches:
            notes = [_note(key_, p, BAR_UNITS) for p in sorted(pitches)]
            block_bars[bar].insert(0, m21.chord.Chord(notes, quarterLength=4.0))

    bass, bass_bars = _part("Bass", key_, tempo_bpm, bars, m21.clef.BassClef())
    for n in by_role["bass"].notes:
        bass_bars[n.start // BAR_UNITS].insert(_offset(n.start), _note(key_, n.pitch, n.duration))

    score: Any = m21.stream.Score()
    score.metadata = m21.metadata.Metadata(title=title)
    for part, measures in ((melody, melody_bars), (block, block_bars), (bass, bass_bars)):
        for measure in measures:
            _fill_rests(measure)
        score.insert(0, part)
    exporter: Any = m21.musicxml.m21ToXml.ScoreExporter(score, makeNotation=False)
    exporter.parse()
    xml: bytes = exporter.asBytes()
    return xml


def _part(
    name: str, key_: Key, tempo_bpm: float, bars: int, part_clef: Any
) -> tuple[Any, list[Any]]:
    m21 = _music21()
    part: Any = m21.stream.Part(id=name)
    part.partName = name
    measures: list[Any] = [m21.stream.Measure(number=bar + 1) for bar in range(bars)]
    first = measures[0]
    first.insert(0, part_clef)
    first.insert(0, m21.key.Key(_m21_name(key_.tonic_name), key_.mode))
    first.insert(0, m21.meter.TimeSignature("4/4"))
    first.insert(0, m21.tempo.MetronomeMark(number=round(tempo_bpm, 2)))
    for measure in measures:
        part.append(measure)
    return part, measures


def _music21() -> Any:
    import music21

    return music21


def _m21_name(name: str) -> str:
    """music21 writes flats as "-": "Eb" → "E-"."""
    return name[0] + name[1:].replace("b", "-")


def _note(key_: Key, pitch: int, units: int) -> Any:
    """A note spelt as the key spells it (B-flat in F major, A-sharp in B major)."""
    m21 = _music21()
    name = _m21_name(key_.pitch_name(pitch))
    return m21.note.Note(f"{name}{pitch // 12 - 1}", quarterLength=units / UNITS_PER_BEAT)


def _offset(start_units: int) -> float:
    return (start_units % BAR_UNITS) / UNITS_PER_BEAT


def _fill_rests(measure: Any) -> None:
    """Rests in every gap between the measure's notes, in plain note values."""
    m21 = _music21()
    sounding = sorted(
        (round(float(e.offset) * UNITS_PER_BEAT), round(float(e.quarterLength) * UNITS_PER_BEAT))
        for e in measure.notes
        if not isinstance(e, m21.harmony.ChordSymbol)
    )
    position = 0
    gaps = []
    for start, length in [*sounding, (BAR_UNITS, 0)]:
        if start > position:
            gaps.append((position, start - position))
        position = max(position, start + length)
    for start, length in gaps:
        offset = start
        while length > 0:
            value = next(v for v in _REST_VALUES if v <= length)
            measure.insert(
                offset / UNITS_PER_BEAT, m21.note.Rest(quarterLength=value / UNITS_PER_BEAT)
            )
            offset += value
            length -= value
