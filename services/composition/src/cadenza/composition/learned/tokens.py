"""The event encoding the learned model reads and writes.

A piece is a header (style, metre, mode, number of voices) then, bar by bar, the onsets in
the bar: `BAR`, then for each position that has notes `POS:p` (sixteenths from the bar line)
and for each note starting there, lowest voice number first, the voice's pitch `P<v>:pitch`
and the duration `D:sixteenths`.
Voices are numbered from the top (0 is the soprano or the tune); each voice sounds one note
at a time. Pitches are transposed so that the tonic is C (the mode is a token), which lets
the model share what it learns between keys; `Score.tonic` remembers the original.

`score_from_midi` reads a Standard MIDI File into a `Score` (one voice per non-drum part, at
most four); `midi_out.score_to_midi` writes one back. Encoding then decoding gives the same
score, and writing it to MIDI and reading it back gives the same tokens (tested).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

import mido
import numpy as np

from cadenza.music.key_profiles import Mode, best_key, key_correlations
from cadenza.music.midi_file import parse_midi

STEPS_PER_QUARTER = 4  # the grid: sixteenth notes
MAX_VOICES = 4
MAX_BAR_STEPS = 48  # 12/8 is 24, 4/2 and 2/1 are 32
MAX_DURATION = 32  # longer notes are cut to 32 sixteenths (two 4/4 bars)
LOWEST_PITCH, HIGHEST_PITCH = 24, 108
MAX_SOURCE_NOTES = 200_000

STYLES: tuple[str, ...] = (
    "chorale",  # Bach's four-part chorales
    "renaissance",  # Palestrina's masses
    "folksong",  # the Essen collection's songs
    "reel",
    "jig",
    "hornpipe",
    "strathspey",
    "tune",  # other fiddle tunes and airs
)
METERS: tuple[tuple[int, int], ...] = (
    (4, 4), (2, 4), (3, 4), (2, 2), (3, 2), (4, 2), (6, 8), (9, 8), (12, 8), (3, 8),
    (6, 4), (5, 4), (2, 1),
)  # fmt: skip
MODES: tuple[Mode, ...] = ("major", "minor")

PAD, BOS, EOS, BAR = "PAD", "BOS", "EOS", "BAR"


@cache
def vocabulary() -> tuple[str, ...]:
    words = [PAD, BOS, EOS, BAR]
    words += [f"STYLE:{s}" for s in STYLES]
    words += [f"METER:{n}/{d}" for n, d in METERS]
    words += [f"MODE:{m}" for m in MODES]
    words += [f"VOICES:{v}" for v in range(1, MAX_VOICES + 1)]
    words += [f"POS:{p}" for p in range(MAX_BAR_STEPS)]
    words += [
        f"P{v}:{p}" for v in range(MAX_VOICES) for p in range(LOWEST_PITCH, HIGHEST_PITCH + 1)
    ]
    words += [f"D:{d}" for d in range(1, MAX_DURATION + 1)]
    return tuple(words)


@cache
def token_ids() -> dict[str, int]:
    return {word: i for i, word in enumerate(vocabulary())}


def token_id(word: str) -> int:
    return token_ids()[word]


def word(token: int) -> str:
    return vocabulary()[token]


@dataclass(frozen=True, order=True)
class Note:
    start: int  # sixteenths from the first bar line
    voice: int  # 0 = top
    pitch: int  # MIDI pitch, in the score's transposed key (tonic C)
    duration: int  # sixteenths

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass(frozen=True)
class Score:
    style: str
    meter: tuple[int, int]
    mode: Mode
    voices: int
    notes: tuple[Note, ...]  # sorted by (start, voice)
    tonic: int = 0  # the pitch class C was transposed from; 0 when made in C
    pickup: int = field(default=0, compare=False)  # sixteenths of silence before the first note
    tempo_bpm: float | None = field(default=None, compare=False)  # the file's first, if stated

    @property
    def bar_steps(self) -> int:
        return bar_steps(self.meter)

    @property
    def bars(self) -> int:
        return 0 if not self.notes else self.notes[-1].start // self.bar_steps + 1


def bar_steps(meter: tuple[int, int]) -> int:
    numerator, denominator = meter
    return numerator * STEPS_PER_QUARTER * 4 // denominator


class TokenError(ValueError):
    """A token sequence that is not a piece in the encoding."""


# --- tokens ----------------------------------------------------------------------------------


def header(style: str, meter: tuple[int, int], mode: Mode, voices: int) -> list[int]:
    return [
        token_id(BOS),
        token_id(f"STYLE:{style}"),
        token_id(f"METER:{meter[0]}/{meter[1]}"),
        token_id(f"MODE:{mode}"),
        token_id(f"VOICES:{voices}"),
    ]


HEADER_LENGTH = 5


def encode(score: Score, *, end: bool = True) -> list[int]:
    """The piece's tokens: its header, then every bar (empty bars included)."""
    tokens = header(score.style, score.meter, score.mode, score.voices)
    tokens += encode_bars(score.notes, score.bar_steps, first_bar=0, bars=score.bars)
    if end:
        tokens.append(token_id(EOS))
    return tokens


def encode_bars(notes: Sequence[Note], steps: int, *, first_bar: int, bars: int) -> list[int]:
    """The body tokens of `bars` bars from `first_bar` (notes outside them are left out)."""
    ids = token_ids()
    by_bar: dict[int, list[Note]] = {}
    for note in notes:
        by_bar.setdefault(note.start // steps, []).append(note)
    tokens: list[int] = []
    for bar in range(first_bar, first_bar + bars):
        tokens.append(ids[BAR])
        in_bar = sorted(by_bar.get(bar, []), key=lambda n: (n.start, n.voice))
        for start, group in itertools.groupby(in_bar, key=lambda n: n.start):
            tokens.append(ids[f"POS:{start - bar * steps}"])
            for note in group:
                tokens += [ids[f"P{note.voice}:{note.pitch}"], ids[f"D:{note.duration}"]]
    return tokens


def decode(tokens: Iterable[int], *, tonic: int = 0) -> Score:
    """The score a token sequence spells (a header, then bars; EOS or the end closes it)."""
    words = [word(t) for t in tokens]
    if len(words) < HEADER_LENGTH or words[0] != BOS:
        raise TokenError("a piece starts BOS STYLE METER MODE VOICES")
    try:
        style = _value(words[1], "STYLE")
        numerator, denominator = (int(x) for x in _value(words[2], "METER").split("/"))
        mode = _value(words[3], "MODE")
        voices = int(_value(words[4], "VOICES"))
    except (TokenError, ValueError) as e:
        raise TokenError(f"a bad header: {' '.join(words[:HEADER_LENGTH])}") from e
    assert mode in MODES
    meter = (numerator, denominator)
    notes = decode_body(words[HEADER_LENGTH:], bar_steps(meter))
    return Score(style, meter, mode, voices, tuple(notes), tonic=tonic)


def decode_body(words: Sequence[str], steps: int, *, first_bar: int = 0) -> list[Note]:
    notes: list[Note] = []
    bar, position = first_bar - 1, None
    pitch: tuple[int, int] | None = None  # (voice, pitch) waiting for its duration
    for w in words:
        if w == EOS:
            break
        if w == BAR:
            bar, position = bar + 1, None
            continue
        kind, _, value = w.partition(":")
        if kind == "POS":
            if bar < first_bar:
                raise TokenError("a position before the first BAR")
            position = int(value)
        elif kind.startswith("P") and kind[1:].isdigit():
            if position is None or pitch is not None:
                raise TokenError(f"{w} outside a position or after a pitch")
            pitch = (int(kind[1:]), int(value))
        elif kind == "D":
            if position is None or pitch is None:
                raise TokenError(f"{w} without a pitch before it")
            notes.append(Note(bar * steps + position, pitch[0], pitch[1], int(value)))
            pitch = None
        else:
            raise TokenError(f"{w} inside the body")
    return notes


def _value(w: str, kind: str) -> str:
    found, _, value = w.partition(":")
    if found != kind:
        raise TokenError(f"expected {kind}, found {w}")
    return value


# --- MIDI in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Played:
    start: int  # ticks
    end: int
    pitch: int


def score_from_midi(
    data: bytes,
    *,
    style: str = "tune",
    key: tuple[int, Mode | None] | None = None,
    max_notes: int = MAX_SOURCE_NOTES,
) -> Score:
    """A MIDI file as a Score: up to four voices (the non-drum tracks or channels by mean
    pitch, the top, bottom and inner ones kept), each one note at a time (the top note of a
    chord; the bottom note in the lowest voice), on a sixteenth grid, the first bar line
    where the file has it (at its start, as the standard says: an upbeat is a bar with rests
    before it), leading empty bars dropped, transposed so the tonic (estimated unless given)
    is C. MidiFileError says why a file cannot be read."""
    midi = parse_midi(data, max_notes=max_notes)
    per_beat = midi.ticks_per_beat
    meter = _first_meter(midi)
    parts = [p for p in _parts(midi) if p]
    chosen = _choose_voices(parts)
    steps = bar_steps(meter)
    voiced: list[tuple[int, int, int, int]] = []  # (start, end, voice, pitch) in sixteenths
    for voice, played in enumerate(chosen):
        lowest = voice == len(chosen) - 1 and len(chosen) > 1
        voiced += [(s, e, voice, p) for s, e, p in _monophonic(played, per_beat, lowest=lowest)]
    tonic, mode = key if key is not None else (None, None)
    if tonic is None or mode is None:  # estimated (the mode alone when the tonic is given)
        profile = np.zeros(12)
        for start, end, _, pitch in voiced:
            profile[pitch % 12] += end - start
        tonic, mode = best_key(key_correlations(profile), tonic=tonic)
    shift = to_c(tonic)
    first = min(s for s, *_ in voiced) if voiced else 0
    offset = -(first // steps) * steps  # bars of silence before the first note dropped
    notes = sorted(
        Note(
            start + offset,
            voice,
            int(np.clip(pitch + shift, LOWEST_PITCH, HIGHEST_PITCH)),
            min(end - start, MAX_DURATION),
        )
        for start, end, voice, pitch in voiced
    )
    pickup = (first + offset) % steps if notes else 0
    return Score(
        style, meter, mode, len(chosen), tuple(notes), tonic=tonic, pickup=pickup,
        tempo_bpm=_first_tempo(midi),
    )  # fmt: skip


def _first_tempo(midi: mido.MidiFile) -> float | None:
    for msg in midi.tracks[0] if midi.tracks else []:
        if msg.type == "set_tempo" and msg.tempo > 0:
            return round(60_000_000 / float(msg.tempo), 3)
    return None


def _first_meter(midi: mido.MidiFile) -> tuple[int, int]:
    for msg in midi.tracks[0] if midi.tracks else []:
        if msg.type == "time_signature":
            found = (int(msg.numerator), int(msg.denominator))
            if found in METERS:
                return found
            if found == (1, 4):
                return (4, 4)
            break
    return (4, 4)


def _parts(midi: mido.MidiFile) -> list[list[_Played]]:
    """The notes of each (track, channel), drums left out."""
    parts: dict[tuple[int, int], list[_Played]] = {}
    for index, track in enumerate(midi.tracks):
        now = 0
        sounding: dict[tuple[int, int], list[int]] = {}
        for msg in track:
            now += msg.time
            if msg.type not in ("note_on", "note_off") or msg.channel == 9:
                continue
            held = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault(held, []).append(now)
            elif sounding.get(held):
                start = sounding[held].pop(0)
                parts.setdefault((index, msg.channel), []).append(_Played(start, now, msg.note))
    return [sorted(notes, key=lambda n: (n.start, -n.pitch)) for _, notes in sorted(parts.items())]


def _choose_voices(parts: list[list[_Played]]) -> list[list[_Played]]:
    """The parts from the top down; of more than four, the top, the bottom and the two at a
    third and two thirds of the way down."""
    by_height = sorted(parts, key=lambda p: -float(np.mean([n.pitch for n in p])))
    if len(by_height) <= MAX_VOICES:
        return by_height
    last = len(by_height) - 1
    picks = sorted({0, round(last / 3), round(2 * last / 3), last})
    return [by_height[i] for i in picks]


def _monophonic(
    played: list[_Played], per_beat: int, *, lowest: bool
) -> list[tuple[int, int, int]]:
    """One note at a time on the grid: of notes starting together the top one (the bottom one
    for the lowest voice); a note ends where the voice's next one starts."""
    on_grid: dict[int, tuple[int, int]] = {}
    for note in played:
        start = round(note.start * STEPS_PER_QUARTER / per_beat)
        end = max(round(note.end * STEPS_PER_QUARTER / per_beat), start + 1)
        kept = on_grid.get(start)
        if kept is None or (note.pitch < kept[1] if lowest else note.pitch > kept[1]):
            on_grid[start] = (end, note.pitch)
    starts = sorted(on_grid)
    result = []
    for start, following in itertools.zip_longest(starts, starts[1:]):
        end, pitch = on_grid[start]
        if following is not None:
            end = min(end, following)
        result.append((start, end, pitch))
    return result


def to_c(tonic: int) -> int:
    """Semitones that move the tonic to C, by the smaller way round (−6..+5)."""
    shift = (-tonic) % 12
    return shift - 12 if shift > 5 else shift


def from_c(tonic: int) -> int:
    """Semitones that move C back to the tonic (the inverse of `to_c`)."""
    return -to_c(tonic)


def is_compound(meter: tuple[int, int]) -> bool:
    """Whether the metre's beats are dotted (6/8, 9/8, 12/8, 6/4 …): three notes of its
    denominator to a beat."""
    numerator, denominator = meter
    return numerator in (6, 9, 12) and denominator in (4, 8, 16)


def metric_weight(position: int, meter: tuple[int, int]) -> int:
    """How strong a position (sixteenths from the bar line) is: the downbeat 4, the middle
    of a bar of an even number of beats 2, other beats 1, the rest 0. Beats are dotted in
    compound metres."""
    if position == 0:
        return 4
    unit = 16 // meter[1]
    beat = 3 * unit if is_compound(meter) else unit
    beats = bar_steps(meter) // beat
    if beats % 2 == 0 and position == beats // 2 * beat:
        return 2
    return 1 if position % beat == 0 else 0
