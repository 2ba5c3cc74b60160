"""blend(): 2–5 source songs in, a new piece out (MIDI, MusicXML and a JSON summary).

The steps: read the sources (key, tempo, chords, top voice); agree on a key and tempo; learn
pooled n-gram models of chords, melodic intervals and rhythms in that key; compose sections
phrase by phrase under music-theory rules and the originality guard; set the lyrics; arrange
for a band; write the files. Everything random comes from one numpy Generator seeded with
`params.seed`, so the same sources, parameters and seed give byte-identical MIDI.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from cadenza.composition.engine.arrangement import arrange
from cadenza.composition.engine.compose import Composition, compose
from cadenza.composition.engine.errors import BlendError
from cadenza.composition.engine.form import STYLES, Style
from cadenza.composition.engine.lyrics import Syllable, fit_line, lyric_lines
from cadenza.composition.engine.markov import temper_for
from cadenza.composition.engine.melody import Note
from cadenza.composition.engine.midi_out import write_midi
from cadenza.composition.engine.notation import write_musicxml
from cadenza.composition.engine.sources import SourceMaterial, read_source
from cadenza.composition.engine.summary import describe
from cadenza.composition.engine.theory import Key, Mode, parse_key
from cadenza.composition.engine.units import BEATS_PER_BAR, is_strong

MIN_SOURCES, MAX_SOURCES = 2, 5
DEFAULT_BARS = 32
BARS_RANGE = (1, 512)
SECONDS_RANGE = (5.0, 900.0)
TEMPO_RANGE = (40.0, 240.0)  # what a caller may ask for
DEFAULT_TEMPO_RANGE = (60.0, 180.0)  # where the sources' median is clamped
MAX_LYRICS_CHARS = 20_000


@dataclass(frozen=True)
class SourceSong:
    title: str
    midi: bytes  # a Standard MIDI File
    key: str | None = None  # a hint from the catalog, e.g. "D" or "F# minor"; None: estimate
    mode: Mode | None = None
    tempo_bpm: float | None = None
    tags: tuple[str, ...] = ()  # the catalog's tags ("chorale", "reel", …): the learned
    # engine's style for this source


Engine = Literal["learned", "markov"]
ENGINES: tuple[Engine, ...] = ("learned", "markov")
ENSEMBLES = ("auto", "choir", "strings", "winds", "organ", "piano", "folk")
TEMPERATURE_RANGE = (0.1, 2.0)


@dataclass(frozen=True)
class BlendParams:
    length_bars: int | None = None  # at most one of the two lengths; 32 bars by default
    length_seconds: float | None = None  # rounded to whole bars
    tempo_bpm: float | None = None  # default: the sources' median tempo, clamped to 60..180
    key: str | None = None  # "A minor", "F#", "Eb major"; default: the sources' commonest
    # The Markov engine's band arrangement; None: pop (and the learned engine by default).
    style: Literal["pop", "rock", "ballad", "folk", "dance"] | None = None
    creativity: float = 0.5  # 0 keeps close to the sources' statistics, 1 wanders
    seed: int = 0
    lyrics: str | None = None  # lines separated by newlines
    # None: the learned engine, unless lyrics or a band style are asked for (markov's alone)
    engine: Engine | None = None
    ensemble: str = "auto"  # the learned engine's instruments; auto follows the texture
    temperature: float | None = None  # the learned engine's; default from creativity

    @property
    def chosen_engine(self) -> Engine:
        if self.engine is not None:
            return self.engine
        return "markov" if self.lyrics or self.style is not None else "learned"


@dataclass(frozen=True)
class BlendResult:
    midi: bytes  # type-1 Standard MIDI File
    musicxml: bytes  # uncompressed MusicXML
    summary: dict[str, Any]  # JSON-serialisable


def blend(
    sources: Sequence[SourceSong],
    params: BlendParams,
    on_progress: Callable[[float], None] | None = None,
) -> BlendResult:
    """Blend the sources into a new piece; BlendError says what is wrong with the input."""
    progress = on_progress or (lambda fraction: None)
    _check(sources, params)
    if params.chosen_engine == "learned":
        from cadenza.composition.learned.blend import blend_learned  # torch loads slowly

        return blend_learned(sources, params, progress)
    materials = [
        read_source(i + 1, s.title, s.midi, s.key, s.mode, s.tempo_bpm)
        for i, s in enumerate(sources)
    ]
    progress(0.2)
    key = _target_key(params.key, materials)
    tempo = _target_tempo(params.tempo_bpm, materials)
    bars = _target_bars(params, tempo)
    style: Style = params.style or "pop"
    rng = np.random.default_rng(params.seed)
    piece = compose(materials, key, bars, style, temper_for(params.creativity),
                    params.creativity, rng)  # fmt: skip
    progress(0.5)

    lines = lyric_lines(params.lyrics) if params.lyrics else []
    syllable_at, lyrics_report = _sing(piece, lines) if lines else ({}, None)
    # Splitting notes for syllables can line up a copy: check the whole melody once more.
    piece.notes_changed += piece.guard.repair(piece.melody, 0, piece.alternatives)

    parts = arrange(style, key, piece.chords, piece.sections, piece.melody, rng)
    lyric_events = [(piece.melody[i].start, s.display) for i, s in sorted(syllable_at.items())]
    midi = write_midi(parts, tempo_bpm=tempo, key=key, lyrics=lyric_events)
    progress(0.7)
    title = "Blend of " + title_listing([m.title for m in materials])
    musicxml = write_musicxml(
        title=title, key_=key, tempo_bpm=tempo, chords=piece.chords, parts=parts,
        lyrics=syllable_at,
    )  # fmt: skip
    summary = describe(
        piece, materials, parts, title=title, tempo_bpm=tempo, style=style,
        creativity=params.creativity, seed=params.seed, lyrics=lyrics_report,
    )  # fmt: skip
    progress(1.0)
    return BlendResult(midi=midi, musicxml=musicxml, summary=summary)


def _check(sources: Sequence[SourceSong], params: BlendParams) -> None:
    if not MIN_SOURCES <= len(sources) <= MAX_SOURCES:
        raise BlendError(
            f"a blend needs {MIN_SOURCES} to {MAX_SOURCES} source songs; {len(sources)} given"
        )
    for i, s in enumerate(sources, start=1):
        if not isinstance(s.midi, bytes | bytearray):
            raise BlendError(f'source {i} ("{s.title}") has no MIDI bytes')
        if s.tempo_bpm is not None and not (
            math.isfinite(s.tempo_bpm) and 10 <= s.tempo_bpm <= 1000
        ):
            raise BlendError(f'source {i} ("{s.title}") has a tempo hint of {s.tempo_bpm} BPM')
        if s.mode not in (None, "major", "minor"):
            raise BlendError(f'source {i} ("{s.title}") has mode "{s.mode}"; use major or minor')
    if params.length_bars is not None and params.length_seconds is not None:
        raise BlendError("give the length in bars or in seconds, not both")
    if params.length_bars is not None:
        whole = isinstance(params.length_bars, int) and not isinstance(params.length_bars, bool)
        _within(
            params.length_bars if whole else math.nan,
            BARS_RANGE,
            f"the length must be {{}} to {{}} bars; {params.length_bars} was asked for",
        )
    if params.length_seconds is not None:
        _within(
            params.length_seconds,
            SECONDS_RANGE,
            "the length must be {:.0f} to {:.0f} seconds;"
            f" {params.length_seconds} was asked for",
        )
    if params.tempo_bpm is not None:
        _within(
            params.tempo_bpm,
            TEMPO_RANGE,
            f"the tempo must be {{:.0f}} to {{:.0f}} BPM; {params.tempo_bpm} was asked for",
        )
    if params.key is not None:
        parse_key(params.key)
    if params.style is not None:
        _one_of(params.style, STYLES, "style")
    _within(
        params.creativity,
        (0.0, 1.0),
        f"creativity must be between {{:.0f}} and {{:.0f}}; {params.creativity} was asked for",
    )
    if isinstance(params.seed, bool) or not isinstance(params.seed, int) or params.seed < 0:
        raise BlendError(f"the seed must be a whole number 0 or more; {params.seed!r} is not")
    if params.engine is not None:
        _one_of(params.engine, ENGINES, "engine")
    if params.chosen_engine == "learned" and (params.lyrics or params.style is not None):
        asked = "lyrics" if params.lyrics else f'the band style "{params.style}"'
        raise BlendError(
            f'{asked} need engine "markov"; the learned engine takes its style from the sources'
            " (choose its instruments with ensemble)"
        )
    _one_of(params.ensemble, ENSEMBLES, "ensemble")
    if params.temperature is not None:
        _within(
            params.temperature,
            TEMPERATURE_RANGE,
            f"the temperature must be {{}} to {{}}; {params.temperature} was asked for",
        )
    if params.lyrics is not None and len(params.lyrics) > MAX_LYRICS_CHARS:
        raise BlendError(
            f"the lyrics are {len(params.lyrics):,} characters; the limit is {MAX_LYRICS_CHARS:,}"
        )


def _within(value: float, bounds: tuple[float, float], sentence: str) -> None:
    """Refuse a value outside [low, high] (or not finite) with `sentence`, whose two `{}`
    take the bounds."""
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise BlendError(sentence.format(low, high))


def _one_of(value: str, choices: Sequence[str], name: str) -> None:
    if value not in choices:
        raise BlendError(f'the {name} must be one of {", ".join(choices)}; "{value}" is not')


def _target_key(requested: str | None, materials: Sequence[SourceMaterial]) -> Key:
    if requested is not None:
        return parse_key(requested)[0]
    counts = Counter((m.key.tonic, m.key.mode) for m in materials)
    top = max(counts.values())
    # The commonest tonic and mode; among equals, the first source's.
    tonic, mode = next((m.key.tonic, m.key.mode) for m in materials
                       if counts[(m.key.tonic, m.key.mode)] == top)  # fmt: skip
    return Key(tonic, mode)


def _target_tempo(requested: float | None, materials: Sequence[SourceMaterial]) -> float:
    if requested is not None:
        return round(float(requested), 3)
    low, high = DEFAULT_TEMPO_RANGE
    return round(float(np.clip(np.median([m.tempo_bpm for m in materials]), low, high)), 3)


def _target_bars(params: BlendParams, tempo: float) -> int:
    if params.length_bars is not None:
        return params.length_bars
    if params.length_seconds is None:
        return DEFAULT_BARS
    bar_seconds = BEATS_PER_BAR * 60.0 / tempo
    bars = max(1, round(params.length_seconds / bar_seconds))
    if bars > BARS_RANGE[1]:
        raise BlendError(
            f"{params.length_seconds:.0f} seconds at {tempo:g} BPM is {bars} bars;"
            f" the limit is {BARS_RANGE[1]}"
        )
    return bars


def _sing(
    piece: Composition, lines: list[tuple[str, list[Syllable]]]
) -> tuple[dict[int, Syllable], dict[str, Any]]:
    """Each lyric line onto the next sung phrase, in order; lines beyond the last phrase
    are dropped (and listed), phrases beyond the last line stay instrumental."""
    melody: list[Note] = []
    sung: list[tuple[int, int]] = []
    syllable_at: dict[int, Syllable] = {}
    report = []
    for k, (a, b) in enumerate(piece.sung):
        notes = piece.melody[a:b]
        base = len(melody)
        if k < len(lines):
            text, syllables = lines[k]
            fit = fit_line(notes, syllables)
            notes = fit.notes
            syllable_at.update({base + i: s for i, s in fit.syllable_at.items()})
            stressed = [i for i, s in fit.syllable_at.items() if s.stressed]
            on_strong = sum(1 for i in stressed if is_strong(notes[i].start))
            line: dict[str, Any] = {
                "line": text,
                "syllables": len(syllables),
                "notes": len(notes),
                "stressed": len(stressed),
                "stressed_on_strong_beats": on_strong,
                "ratio": round(on_strong / len(stressed), 4) if stressed else 1.0,
            }
            if fit.dropped:
                line["syllables_dropped"] = fit.dropped
            report.append(line)
        sung.append((base, base + len(notes)))
        melody += notes
    piece.melody, piece.sung = melody, sung
    dropped = [text for text, _ in lines[len(piece.sung) :]]
    stressed_total = sum(r["stressed"] for r in report)
    return syllable_at, {
        "lines": report,
        "phrases": len(piece.sung),
        "lines_dropped": dropped,
        "note": (
            f"{len(lines)} lines for {len(piece.sung)} sung phrases: the last"
            f" {len(dropped)} lines were dropped"
            if dropped
            else f"{len(lines)} lines on {len(piece.sung)} sung phrases, one line per phrase"
        ),
        "ratio": round(sum(r["stressed_on_strong_beats"] for r in report) / stressed_total, 4)
        if stressed_total
        else 1.0,
    }


def title_listing(titles: Sequence[str]) -> str:
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
