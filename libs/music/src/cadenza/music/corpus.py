"""Songs from the corpus music21 ships on disk, as catalog seed material.

A fresh install gets real music to search and blend without any download: Bach chorales,
folk tunes from several ABC collections and Palestrina mass movements. Each work becomes a
`CorpusSong` holding a type-1 Standard MIDI File.

The MIDI is written here from the parsed score, not with `music21.midi.translate`: music21's
writer deep-copies the whole score to expand repeats and takes two to ten times as long as the
parse itself. This writer reads the score in place, plays repeats (with first and second
endings) by reordering measures, and leaves da capo and dal segno unexpanded.

music21 is imported on first use: importing it takes over a second.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import logging
import multiprocessing
import re
import struct
import threading
import warnings
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from cadenza.contracts.catalog import MAX_TAG, MAX_TAGS, TAG_PATTERN

log = logging.getLogger(__name__)

TICKS_PER_QUARTER = 480
DEFAULT_VELOCITY = 90
_TAG = re.compile(TAG_PATTERN)


@dataclass(frozen=True)
class CorpusSong:
    title: str
    artist: str
    tags: tuple[str, ...]
    source: str  # "music21:<path in the corpus>[#<ABC tune number>]", stable across installs
    midi: bytes


@dataclass(frozen=True)
class Collection:
    """One folder of music21's corpus and what its works are."""

    suffixes: tuple[str, ...]
    artist: str  # the composer; "Traditional" for folk tunes
    tags: tuple[str, ...]
    # Songs taken from this collection in each round of the interleave: the fast collections
    # get the larger shares, so that a seed of a few hundred songs is quick and still mixed.
    share: int
    folk: bool = False
    excluded: frozenset[str] = frozenset()


# Measured per work on one core (parse + MIDI): essenFolksong 0.02 s, oneills1850 0.05 s,
# airdsAirs 0.04 s, miscFolk 0.05 s, bach 0.06 s, ryansMammoth 0.09 s, palestrina 0.09 s.
# Left out: the string quartets and symphonies (beethoven, haydn, mozart: seconds per work)
# and monteverdi (0.2 s per madrigal, composer missing from its metadata).
COLLECTIONS: dict[str, Collection] = {
    "essenFolksong": Collection(
        (".abc",),
        "Traditional",
        ("folk", "essen"),
        share=4,
        folk=True,
        # test*.abc repeat tunes from the other files for music21's own tests.
        excluded=frozenset({"test0.abc", "test1.abc", "testd.abc", "teste.abc"}),
    ),
    "bach": Collection(
        (".mxl", ".krn", ".xml"),
        "J. S. Bach",
        ("bach", "chorale", "baroque"),
        share=2,
        excluded=frozenset({"bwv846.mxl"}),  # a prelude, not a chorale
    ),
    "oneills1850": Collection(
        (".abc",), "Traditional", ("folk", "irish", "oneills 1850"), share=2, folk=True
    ),
    "airdsAirs": Collection(
        (".abc",), "Traditional", ("folk", "scottish", "airds airs"), share=1, folk=True
    ),
    "ryansMammoth": Collection(
        (".abc",), "Traditional", ("folk", "fiddle", "ryans mammoth"), share=1, folk=True
    ),
    "miscFolk": Collection((".abc",), "Traditional", ("folk",), share=1, folk=True),
    "palestrina": Collection(
        (".krn",),
        "Giovanni Pierluigi da Palestrina",
        ("palestrina", "mass", "renaissance"),
        share=1,
    ),
}

# Essen tunes say where they were collected (their O: field, in German).
_ESSEN_REGIONS = {
    "deutschland": "german",
    "china": "chinese",
    "lothringen": "lorraine",
    "luxemburg": "luxembourgish",
    "frankreich": "french",
    "elsass": "alsatian",
    "niederlande": "dutch",
    "schweiz": "swiss",
    "oesterreich": "austrian",
    "polen": "polish",
    "jugoslawien": "yugoslav",
    "ungarn": "hungarian",
    "tschechoslowakei": "czech",
    "rumaenien": "romanian",
    "irland": "irish",
    "island": "icelandic",
    "udssr": "russian",
}


@cache
def corpus_root() -> Path:
    with _quiet():
        import music21

    return Path(music21.__file__).parent / "corpus"


def iter_corpus(
    limit: int | None = None, collections: Sequence[str] | None = None, workers: int = 1
) -> Iterator[CorpusSong]:
    """Yield up to `limit` songs, the collections interleaved by share, in a fixed order.

    Works that cannot be converted are skipped (and logged); the order does not depend on
    `workers`, so `limit=N` always gives the same N songs.
    """
    names = list(COLLECTIONS) if collections is None else list(collections)
    unknown = [name for name in names if name not in COLLECTIONS]
    if unknown:  # raised here, at the call, not at the first song
        raise ValueError(f"unknown corpus collections {unknown}; known: {list(COLLECTIONS)}")
    works = _interleave(names)
    songs = _convert_serially(works) if workers <= 1 else _convert_in_pool(works, workers)
    return _take(songs, limit)


def convert_work(path: Path, number: int | None = None) -> CorpusSong | None:
    """The song for one work (tune X:`number` of an ABC file), or None if it will not convert."""
    try:
        with _CONVERTING, _quiet(), _without_beams():
            score, abc = _parse(path, number)
            midi = score_to_midi(score)
            return _describe(score, abc, path, number, midi)
    except Exception as exc:  # a bad work is skipped, never fatal
        log.warning("skipping %s: %s: %s", _source(path, number), type(exc).__name__, exc)
        return None


def count_works(collections: Sequence[str] | None = None) -> dict[str, int]:
    """How many works each collection offers (reads the ABC files to count their tunes)."""
    names = list(COLLECTIONS) if collections is None else list(collections)
    return {name: sum(1 for _ in _works(name)) for name in names}


# --- which works, in which order -------------------------------------------------------------


def _works(name: str) -> Iterator[tuple[Path, int | None]]:
    collection = COLLECTIONS[name]
    folder = corpus_root() / name
    paths = sorted(
        path
        for path in folder.iterdir()
        if path.suffix in collection.suffixes and path.name not in collection.excluded
    )
    for path in paths:
        numbers = _abc_numbers(path) if path.suffix == ".abc" else []
        if len(numbers) > 1:
            for number in numbers:
                yield path, number
        else:
            yield path, None


def _interleave(names: Sequence[str]) -> Iterator[tuple[Path, int | None]]:
    """Round-robin over the collections, `share` works from each per round."""
    queues = [(_works(name), COLLECTIONS[name].share) for name in names]
    while queues:
        remaining = []
        for works, share in queues:
            taken = list(islice(works, share))
            yield from taken
            if len(taken) == share:
                remaining.append((works, share))
        queues = remaining


def _take(songs: Generator[CorpusSong], limit: int | None) -> Iterator[CorpusSong]:
    with contextlib.closing(songs):  # at the limit, stop the pool now rather than when collected
        yield from songs if limit is None else islice(songs, max(limit, 0))


def _convert_serially(works: Iterator[tuple[Path, int | None]]) -> Generator[CorpusSong]:
    for path, number in works:
        song = convert_work(path, number)
        if song is not None:
            yield song


def _convert_in_pool(
    works: Iterator[tuple[Path, int | None]], workers: int
) -> Generator[CorpusSong]:
    # spawn, not fork: the caller may be an asyncio service with threads running.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[CorpusSong | None]] = deque()
        try:
            for path, number in works:
                pending.append(pool.submit(convert_work, path, number))
                # A few works queued per worker keeps them busy without converting much past
                # a limit.
                if len(pending) >= 4 * workers and (song := pending.popleft().result()):
                    yield song
            while pending:
                if song := pending.popleft().result():
                    yield song
        finally:
            for future in pending:
                future.cancel()


# --- one work --------------------------------------------------------------------------------


# music21 is not thread-safe and _quiet and _without_beams change process-wide state: one
# conversion at a time per process (threads would gain nothing anyway: music21 is pure Python).
_CONVERTING = threading.Lock()


@contextlib.contextmanager
def _without_beams() -> Iterator[None]:
    """Beams are notation only; music21's ABC reader spends up to half its time making them."""
    from music21 import stream

    make_beams = stream.Stream.makeBeams
    setattr(stream.Stream, "makeBeams", _skip_beams)  # noqa: B010 (mypy forbids assigning a method)
    try:
        yield
    finally:
        setattr(stream.Stream, "makeBeams", make_beams)  # noqa: B010


def _skip_beams(self: Any, *, inPlace: bool = False, **_: Any) -> Any:  # noqa: N803 (music21's name)
    return None if inPlace else self


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """music21 warns and prints freely; a seed run would drown in it."""
    sink = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        yield


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_ABC_NUMBER = re.compile(r"^X:[ \t]*(\d+)", re.MULTILINE)


def _abc_numbers(path: Path) -> list[int]:
    numbers = [int(found) for found in _ABC_NUMBER.findall(_read_text(path))]
    return list(dict.fromkeys(numbers))  # music21 reads the first of a repeated number


def _abc_tune(text: str, number: int) -> str:
    """The text of tune X:`number`; parsing only it costs no more than its share of the file."""
    for match in _ABC_NUMBER.finditer(text):
        if int(match.group(1)) == number:
            following = _ABC_NUMBER.search(text, match.end())
            return text[match.start() : following.start() if following else len(text)]
    raise ValueError(f"no tune X:{number}")


def _parse(path: Path, number: int | None) -> tuple[Any, str | None]:
    """The score, and for ABC the tune's text (its fields say more than music21 keeps)."""
    from music21 import converter, stream

    abc = None
    if path.suffix == ".abc":
        abc = _read_text(path)
        abc = abc if number is None else _abc_tune(abc, number)
        parsed = converter.parseData(abc, format="abc")
    else:  # forceSource: no pickled copy read from or written to music21's scratch folder
        parsed = converter.parse(path, forceSource=True, number=number)
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise ValueError("the file holds no score")
        parsed = scores[0]
    return parsed, abc


def _source(path: Path, number: int | None) -> str:
    try:
        name = "music21:" + path.resolve().relative_to(corpus_root()).as_posix()
    except ValueError:
        name = "file:" + path.name
    return name if number is None else f"{name}#{number}"


def _collection_of(path: Path) -> Collection | None:
    try:
        folder = path.resolve().relative_to(corpus_root()).parts[0]
    except ValueError:
        return None
    return COLLECTIONS.get(folder)


def _describe(
    score: Any, abc: str | None, path: Path, number: int | None, midi: bytes
) -> CorpusSong:
    metadata = score.metadata
    collection = _collection_of(path)
    title = _title(metadata, path, number, collection)
    if collection is not None:
        artist = collection.artist
        tags = list(collection.tags)
    else:
        artist = _text(metadata.composer if metadata else None) or "Unknown"
        tags = []
    if collection is not None and collection.folk and abc is not None:
        tags += _folk_tags(abc, essen=collection is COLLECTIONS["essenFolksong"])
    valid = [tag for tag in dict.fromkeys(tags) if len(tag) <= MAX_TAG and _TAG.match(tag)]
    return CorpusSong(title, artist, tuple(valid[:MAX_TAGS]), _source(path, number), midi)


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


def _title(metadata: Any, path: Path, number: int | None, collection: Collection | None) -> str:
    fallback = path.stem if number is None else f"{path.stem} #{number}"
    if metadata is None:
        return fallback
    if collection is COLLECTIONS["bach"]:
        return _chorale_title(path.stem.removeprefix("bwv"))
    parent, movement, title = (
        _text(metadata.parentTitle),
        _text(metadata.movementName),
        _text(metadata.title),
    )
    if movement.endswith(path.suffix):  # music21 fills in the file name when there is none
        movement = ""
    if parent and movement:  # a mass movement: "Missa Vestiva i colli: Credo, First Section"
        return f"{parent}: {movement}" + (f", {title}" if title else "")
    return title or movement or fallback


def _chorale_title(bwv: str) -> str:
    titles = _chorale_titles()
    name = titles.get(bwv) or titles.get(bwv.split("-")[0]) or "Chorale"
    return f"{name} (BWV {bwv})"


@cache
def _chorale_titles() -> dict[str, str]:
    """Titles by BWV number ("4.8"), from music21's list of the 371 chorales."""
    from music21.corpus import chorales

    make_listing: Any = chorales.ChoraleListRKBWV  # untyped in music21
    listing = make_listing()
    return {str(bwv): str(entry["title"]) for bwv, entry in listing.byBWV.items()}


_ABC_FIELD = re.compile(r"^([A-Z]):[ \t]*(.*?)\s*$", re.MULTILINE)


def _folk_tags(tune: str, essen: bool) -> list[str]:
    fields: dict[str, str] = {}
    for key, value in _ABC_FIELD.findall(tune):
        fields.setdefault(key, value)
    if essen:  # "Europa, Mitteleuropa, Deutschland" names places; map countries to tags
        places = re.split(r"[,;/()]\s*", fields.get("O", "").lower())
        return [
            _ESSEN_REGIONS[p] for p in (place.strip() for place in places) if p in _ESSEN_REGIONS
        ]
    rhythm = fields.get("R", "").lower().strip(" .]")  # "reel", "double jig", "slipjig"
    rhythm = {"slipjig": "slip jig", "fling": "highland fling"}.get(rhythm, rhythm)
    return [rhythm] if rhythm else []


# --- score to MIDI ---------------------------------------------------------------------------

# Conductor events at the same tick go tempo, time signature, key signature; note-offs go before
# note-ons so that a repeated pitch sounds twice.
_TEMPO, _METER, _KEY = 0, 1, 2
_NOTE_OFF, _NOTE_ON = 0, 1


def score_to_midi(score: Any) -> bytes:
    """A type-1 MIDI file: a conductor track (tempo, time and key signatures), then one track
    per part. Repeats are played; tied notes are joined; grace notes and chord symbols are
    left out."""
    from music21 import stream

    parts = list(score.parts) or [score]
    measures = [list(part.getElementsByClass(stream.Measure)) for part in parts]
    aligned = all(len(found) == len(measures[0]) for found in measures)
    starts = [float(measure.offset) for measure in measures[0]] or [0.0]
    end = max(float(part.highestTime) for part in parts)
    lengths = [after - before for before, after in zip(starts, [*starts[1:], end], strict=True)]
    order = playback_order(measures[0]) if aligned and measures[0] else list(range(len(starts)))
    # An upbeat (a first measure shorter than its metre) starts where it would in a full
    # bar, so the file's bar lines fall where the score's do.
    cursor = upbeat = _upbeat_padding(measures[0][0]) if measures[0] else 0.0
    placed = []  # (measure index, where it starts in the output)
    for index in order:
        placed.append((index, cursor))
        cursor += max(lengths[index], 0.0)

    def timeline(part: Any) -> list[tuple[float, Any]]:
        """The part's elements at their times in the output, repeats played."""
        by_measure: list[list[Any]] = [[] for _ in starts]
        for element in part.flatten():
            index = max(bisect.bisect_right(starts, float(element.offset)) - 1, 0)
            by_measure[index].append(element)
        return [
            (max(at + float(element.offset) - starts[index], 0.0), element)
            for index, at in placed
            for element in by_measure[index]
        ]

    channels = [channel for channel in range(16) if channel != 9]  # 9 is percussion
    timelines = [timeline(part) for part in parts]
    tracks = [_track(_conductor_events(timelines[0], upbeat))]
    notes = 0
    for number, (part, elements) in enumerate(zip(parts, timelines, strict=True)):
        events = _part_events(part, elements, channels[number % len(channels)])
        notes += sum(1 for _, kind, _ in events if kind == _NOTE_ON)
        tracks.append(_track(events))
    if not notes:
        raise ValueError("the work has no notes")
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TICKS_PER_QUARTER)
    return header + b"".join(tracks)


def _upbeat_padding(measure: Any) -> float:
    padding = float(measure.paddingLeft or 0.0)
    return padding if 0.0 < padding < float(measure.barDuration.quarterLength) else 0.0


def playback_order(measures: Sequence[Any]) -> list[int]:
    """Measure indices in the order they are played: repeat barlines taken (`times` each,
    two by default), first and second endings chosen by pass. A closing repeat with no
    opening one goes back to the end of the previous repeat, as folk tunes mean it."""
    from music21 import bar, spanner

    opens, closes, endings = set(), {}, {}
    for index, measure in enumerate(measures):
        left, right = measure.leftBarline, measure.rightBarline
        if isinstance(left, bar.Repeat) and left.direction == "start":
            opens.add(index)
        if isinstance(right, bar.Repeat) and right.direction == "end":
            closes[index] = min(max(int(right.times or 2), 1), 8)
    positions = {id(measure): index for index, measure in enumerate(measures)}
    site = measures[0].activeSite
    brackets = site.spannerBundle.getByClass(spanner.RepeatBracket) if site is not None else []
    for bracket in brackets:
        numbers = {number for number in bracket.numberRange if number > 0}
        for measure in bracket.getSpannedElements():
            if id(measure) in positions and numbers:
                endings[positions[id(measure)]] = numbers

    order: list[int] = []
    section, repeat_pass, finished, last = 0, 1, False, -2
    index = 0
    while index < len(measures) and len(order) < 4 * len(measures) + 16:
        passes = endings.get(index)
        # A section ends after its repeat is done or after its last ending; the next repeat
        # goes back no further than here.
        if passes is None and (finished or (last == index - 1 and last in endings)):
            section, repeat_pass, finished = index, 1, False
        if index in opens and index != section:
            section, repeat_pass = index, 1
        if passes is not None and repeat_pass not in passes:
            index += 1
            continue
        order.append(index)
        last = index
        if index in closes:
            if repeat_pass < closes[index]:
                repeat_pass += 1
                index = section
                continue
            finished = True
        index += 1
    return order


def _ticks(quarters: float) -> int:
    return round(quarters * TICKS_PER_QUARTER)


def _conductor_events(
    timeline: list[tuple[float, Any]], upbeat: float
) -> list[tuple[int, int, bytes]]:
    """Tempo, metre and key events; those of the upbeat's measure from the file's start."""
    from music21 import key, meter, tempo

    events = []  # (tick, kind, event)
    for placed_at, element in timeline:
        at = 0.0 if placed_at <= upbeat else placed_at
        if isinstance(element, tempo.MetronomeMark):
            bpm = element.getQuarterBPM()  # None for a tempo given only in words
            if bpm and bpm > 0:
                events.append((_ticks(at), _TEMPO, _tempo_event(float(bpm))))
        elif isinstance(element, meter.TimeSignature):
            numerator, denominator = int(element.numerator), int(element.denominator)
            if 0 < numerator < 256 and denominator in (1, 2, 4, 8, 16, 32, 64):
                events.append((_ticks(at), _METER, _meter_event(numerator, denominator)))
        elif isinstance(element, key.KeySignature) and -7 <= element.sharps <= 7:
            minor = getattr(element, "mode", None) == "minor"
            events.append(
                (_ticks(at), _KEY, _meta(0x59, struct.pack(">bB", element.sharps, minor)))
            )
    defaults = {_TEMPO: _tempo_event(120.0), _METER: _meter_event(4, 4), _KEY: _meta(0x59, b"\0\0")}
    for kind, default in defaults.items():  # every file states all three from the start
        if not any(tick == 0 and found == kind for tick, found, _ in events):
            events.append((0, kind, default))
    events.sort(key=lambda event: (event[0], event[1]))
    in_force: dict[int, bytes] = {}
    kept = []
    for tick, kind, event in events:
        if in_force.get(kind) != event:  # a repeat restates what is already in force
            in_force[kind] = event
            kept.append((tick, kind, event))
    return kept


def _part_events(
    part: Any, timeline: list[tuple[float, Any]], channel: int
) -> list[tuple[int, int, bytes]]:
    from music21 import chord, dynamics, harmony, note

    instrument = part.getInstrument(returnDefault=False)
    program = min(max(int(getattr(instrument, "midiProgram", None) or 0), 0), 127)
    name = _text(part.partName) or _text(getattr(instrument, "instrumentName", None))
    notes: list[list[int]] = []  # [start, end, pitch, velocity]
    tied: dict[int, list[int]] = {}  # pitch → the note a tie continues
    velocity = DEFAULT_VELOCITY
    for at, element in timeline:
        if isinstance(element, dynamics.Dynamic) and element.volumeScalar:
            velocity = min(max(round(element.volumeScalar * 127), 1), 127)
            continue
        if isinstance(element, harmony.Harmony) or not isinstance(element, note.NotRest):
            continue
        length = float(element.quarterLength)
        if length <= 0:  # grace notes
            continue
        start, end = _ticks(at), _ticks(at + length)
        members = element.notes if isinstance(element, chord.Chord) else [element]
        for member in members:
            pitch = getattr(member, "pitch", None)
            if pitch is None:  # unpitched percussion
                continue
            tie = member.tie or element.tie
            kind = tie.type if tie is not None else None
            midi_pitch = min(max(int(pitch.midi), 0), 127)
            if kind in ("stop", "continue") and midi_pitch in tied:
                tied[midi_pitch][1] = max(tied[midi_pitch][1], end)
                if kind == "stop":
                    del tied[midi_pitch]
                continue
            played = [start, end, midi_pitch, velocity]
            notes.append(played)
            if kind in ("start", "continue"):
                tied[midi_pitch] = played
    events = []
    if name:
        events.append((0, -2, _meta(0x03, name.encode("latin-1", "replace")[:127])))
    events.append((0, -1, bytes([0xC0 | channel, program])))
    for start, end, pitch, note_velocity in notes:
        events.append((start, _NOTE_ON, bytes([0x90 | channel, pitch, note_velocity])))
        events.append((end, _NOTE_OFF, bytes([0x80 | channel, pitch, 0])))
    events.sort(key=lambda event: (event[0], event[1]))
    return events


def _meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + _variable_length(len(data)) + data


def _tempo_event(bpm: float) -> bytes:
    microseconds = min(max(round(60_000_000 / bpm), 1), 0xFFFFFF)
    return _meta(0x51, microseconds.to_bytes(3, "big"))


def _meter_event(numerator: int, denominator: int) -> bytes:
    # 24 MIDI clocks per metronome click, 8 thirty-seconds per quarter: the usual values.
    return _meta(0x58, bytes([numerator, denominator.bit_length() - 1, 24, 8]))


def _variable_length(value: int) -> bytes:
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def _track(events: list[tuple[int, int, bytes]]) -> bytes:
    body = bytearray()
    now = 0
    for tick, _, event in events:
        body += _variable_length(tick - now) + event
        now = tick
    body += b"\x00\xff\x2f\x00"  # end of track
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)
