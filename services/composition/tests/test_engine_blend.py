"""blend() on real chorales: the files it writes read back as asked (parts, key, tempo,
length, measures), the music keeps to the key and form, and a seed fixes the piece."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
from music21 import converter

from cadenza.composition.engine import BlendParams, BlendResult, SourceSong, blend
from cadenza.composition.engine.form import Style

# The Markov engine, named (the learned one is the default).
markov = partial(BlendParams, engine="markov")

A_MINOR_SCALE = {9, 11, 0, 2, 4, 5, 7, 8}  # natural minor and the leading tone G#


def read_midi(data: bytes) -> pretty_midi.PrettyMIDI:
    return pretty_midi.PrettyMIDI(io.BytesIO(data))


def part(pm: pretty_midi.PrettyMIDI, name: str) -> pretty_midi.Instrument:
    (found,) = [i for i in pm.instruments if i.name == name]
    return found


@pytest.fixture(scope="module")
def piece(chorales: list[SourceSong]) -> BlendResult:
    params = BlendParams(
        engine="markov", length_bars=24, key="A minor", tempo_bpm=100, style="pop", seed=7
    )
    return blend(chorales, params)


def test_the_midi_has_four_named_parts_drums_on_channel_10(piece: BlendResult) -> None:
    pm = read_midi(piece.midi)
    assert [i.name for i in pm.instruments] == ["Melody", "Chords", "Bass", "Drums"]
    assert [i.is_drum for i in pm.instruments] == [False, False, False, True]
    assert all(i.notes for i in pm.instruments)
    assert piece.midi[8:10] == b"\x00\x01"  # MThd format 1
    instruments = piece.summary["instruments"]
    assert instruments["drums"]["channel"] == 10
    assert [instruments[r]["program"] for r in ("melody", "chords", "bass")] == [
        i.program for i in pm.instruments[:3]
    ]


def test_key_tempo_meter_and_length_are_as_requested(piece: BlendResult) -> None:
    pm = read_midi(piece.midi)
    assert [k.key_number for k in pm.key_signature_changes] == [
        pretty_midi.key_name_to_key_number("A minor")
    ]
    _, tempi = pm.get_tempo_changes()
    assert tempi.tolist() == pytest.approx([100.0], abs=0.01)
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(4, 4)]
    bar_s = 4 * 60 / 100
    assert pm.get_end_time() == pytest.approx(24 * bar_s, abs=bar_s)
    summary = piece.summary
    assert (summary["key"], summary["mode"], summary["bars"]) == ("A", "minor", 24)
    assert summary["duration_s"] == pytest.approx(24 * bar_s)


def test_melody_keeps_to_the_key_and_a_singable_range(piece: BlendResult) -> None:
    melody = part(read_midi(piece.midi), "Melody").notes
    in_scale = np.mean([n.pitch % 12 in A_MINOR_SCALE for n in melody])
    assert in_scale >= 0.85
    assert min(n.pitch for n in melody) >= 60 and max(n.pitch for n in melody) <= 81
    assert melody[-1].pitch % 12 == 9  # it ends on the tonic


def test_one_chord_per_bar_and_sections_fill_the_piece(piece: BlendResult) -> None:
    summary = piece.summary
    chords = summary["chords"]
    assert len(chords) == summary["bars"] == 24
    assert [c["bar"] for c in chords] == list(range(1, 25))
    assert chords[-1]["degree"] == "i" and chords[-1]["symbol"] == "Am"
    assert chords[-2]["degree"] in ("V", "V7", "v", "iv")  # the final cadence
    sections = summary["sections"]
    assert sum(s["bars"] for s in sections) == 24
    starts = [s["start_bar"] for s in sections]
    assert starts == [1 + sum(s["bars"] for s in sections[:i]) for i in range(len(sections))]
    for s in sections:  # sections start on the tonic or a close relative
        assert chords[s["start_bar"] - 1]["degree"] in ("i", "iv", "VI", "iv7", "i7")


def test_the_chorus_is_louder_than_the_verse(piece: BlendResult) -> None:
    melody = part(read_midi(piece.midi), "Melody").notes
    bar_s = 4 * 60 / 100
    loudness: dict[str, list[int]] = {}
    for s in piece.summary["sections"]:
        lo, hi = (s["start_bar"] - 1) * bar_s, (s["start_bar"] - 1 + s["bars"]) * bar_s
        loudness.setdefault(s["name"], []).extend(n.velocity for n in melody if lo <= n.start < hi)
    assert np.mean(loudness["chorus"]) > np.mean(loudness["verse"])


def test_musicxml_parses_back_with_the_same_measures(piece: BlendResult) -> None:
    score: Any = converter.parseData(piece.musicxml.decode("utf-8"), format="musicxml")
    assert [p.partName for p in score.parts] == ["Melody", "Chords", "Bass"]
    assert [len(p.getElementsByClass("Measure")) for p in score.parts] == [24, 24, 24]
    key = score.parts[0].recurse().getElementsByClass("Key").first()
    assert (key.tonic.name, key.mode) == ("A", "minor")
    pitches = [n.pitch.midi for n in score.parts[0].recurse().getElementsByClass("Note")]
    midi_melody = part(read_midi(piece.midi), "Melody").notes
    assert pitches == [n.pitch for n in midi_melody]


def test_summary_is_json_and_influence_adds_up(piece: BlendResult) -> None:
    summary = json.loads(json.dumps(piece.summary))
    influence = summary["influence"]
    assert [s["title"] for s in influence["per_source"]] == ["bwv66.6", "bwv1.6", "bwv347"]
    for figure in ("chords", "melody_intervals", "melody_rhythm", "overall"):
        shares = [s[figure] for s in influence["per_source"]]
        assert sum(shares) == pytest.approx(1.0, abs=0.002)
        assert all(0 <= x <= 1 for x in shares)
    assert all(0 < v <= 1 for v in influence["source_share"].values())
    assert influence["draws"]["melody_intervals"] > 20
    assert summary["seed"] == 7 and summary["style"] == "pop"


def test_the_same_seed_gives_the_same_bytes_another_seed_another_piece(
    chorales: list[SourceSong], piece: BlendResult
) -> None:
    params = BlendParams(
        engine="markov", length_bars=24, key="A minor", tempo_bpm=100, style="pop", seed=7
    )
    again = blend(chorales, params)
    assert again.midi == piece.midi
    assert again.summary == piece.summary
    other = blend(chorales, markov(length_bars=24, key="A minor", tempo_bpm=100, seed=8))
    assert other.midi != piece.midi
    mine = [(n.pitch, n.start) for n in part(read_midi(piece.midi), "Melody").notes]
    theirs = [(n.pitch, n.start) for n in part(read_midi(other.midi), "Melody").notes]
    assert mine != theirs


def test_defaults_come_from_the_sources(corpus_songs: dict[str, SourceSong]) -> None:
    # bwv66.6 is F# minor at 96 BPM, bwv1.6 F major at 76: the first one's key wins the tie,
    # the tempo is their median; 32 bars.
    result = blend([corpus_songs["bwv66.6"], corpus_songs["bwv1.6"]], markov(seed=1))
    summary = result.summary
    assert (summary["key"], summary["mode"]) == ("F#", "minor")
    assert summary["tempo_bpm"] == pytest.approx(86.0)
    assert summary["bars"] == 32
    assert [s["key_from"] for s in summary["sources"]] == ["estimated", "estimated"]
    assert [s["key"] for s in summary["sources"]] == ["F# minor", "F major"]


def test_catalog_hints_override_the_estimates(corpus_songs: dict[str, SourceSong]) -> None:
    hinted = SourceSong("hinted", corpus_songs["bwv1.6"].midi, key="D", mode="minor",
                        tempo_bpm=140)  # fmt: skip
    summary = blend([hinted, corpus_songs["bwv347"]], markov(length_bars=8)).summary
    assert summary["sources"][0]["key"] == "D minor"
    assert summary["sources"][0]["tempo_bpm"] == 140
    assert summary["tempo_bpm"] == pytest.approx(130.0)  # median of 140 and 120


def test_length_in_seconds_rounds_to_whole_bars(chorales: list[SourceSong]) -> None:
    # 50 s at 90 BPM is 18.75 bars of 2.667 s: 19 bars, 50.67 s.
    result = blend(chorales, markov(length_seconds=50, tempo_bpm=90, style="folk"))
    assert result.summary["bars"] == 19
    end = read_midi(result.midi).get_end_time()
    assert end == pytest.approx(50.0, abs=4 * 60 / 90)


@pytest.mark.parametrize("style", ["rock", "ballad", "dance"])
def test_each_style_has_its_own_band(chorales: list[SourceSong], style: Style) -> None:
    result = blend(chorales, markov(length_bars=8, style=style, seed=2))
    pm = read_midi(result.midi)
    programs = {i.name: i.program for i in pm.instruments if not i.is_drum}
    pop = {"Melody": 80, "Chords": 0, "Bass": 33}
    assert programs != pop
    drums = part(pm, "Drums").notes
    assert {n.pitch for n in drums} & {35, 36}  # a kick drum
    assert len(result.summary["chords"]) == 8


def test_progress_is_reported_up_to_one(chorales: list[SourceSong]) -> None:
    seen: list[float] = []
    blend(chorales, markov(length_bars=4), on_progress=seen.append)
    assert len(seen) >= 3
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_two_minutes_from_three_chorales_is_quick(chorales: list[SourceSong]) -> None:
    started = time.perf_counter()
    result = blend(chorales, markov(length_seconds=120, style="rock", seed=3))
    elapsed = time.perf_counter() - started
    assert result.summary["duration_s"] == pytest.approx(120, abs=4 * 60 / 96)
    assert elapsed < 10.0


@pytest.fixture(scope="module")
def song(chorales: list[SourceSong]) -> BlendResult:
    """48 bars: intro, verse, chorus, verse, bridge, chorus, outro."""
    return blend(
        chorales,
        markov(length_bars=48, key="D major", tempo_bpm=120, seed=11),
    )


def bar_notes(notes: list[pretty_midi.Note], bar: int, bar_s: float) -> list[tuple[int, float]]:
    lo = bar * bar_s
    return [
        (n.pitch, round(n.start - lo, 3)) for n in notes if lo - 1e-6 <= n.start < lo + bar_s - 1e-6
    ]


def test_a_repeated_chorus_is_a_variation_not_a_copy(song: BlendResult) -> None:
    summary = song.summary
    names = [s["name"] for s in summary["sections"]]
    assert names == ["intro", "verse", "chorus", "verse", "bridge", "chorus", "outro"]
    first, second = [s for s in summary["sections"] if s["name"] == "chorus"]
    symbols = [c["symbol"] for c in summary["chords"]]
    assert (
        symbols[first["start_bar"] - 1 : first["start_bar"] + 7]
        == symbols[second["start_bar"] - 1 : second["start_bar"] + 7]
    )  # the same harmony …
    melody = part(read_midi(song.midi), "Melody").notes
    bars_a = [bar_notes(melody, first["start_bar"] - 1 + i, 2.0) for i in range(8)]
    bars_b = [bar_notes(melody, second["start_bar"] - 1 + i, 2.0) for i in range(8)]
    same = sum(a == b for a, b in zip(bars_a, bars_b, strict=True))
    assert 1 <= same <= 7  # … under a melody partly kept, partly new


def test_the_bass_plays_each_chord_root_on_the_downbeat(song: BlendResult) -> None:
    bass = part(read_midi(song.midi), "Bass").notes
    for chord in song.summary["chords"]:
        (downbeat,) = [n for n in bass if abs(n.start - (chord["bar"] - 1) * 2.0) < 1e-6]
        root = chord["symbol"][:2] if chord["symbol"][1:2] in ("#", "b") else chord["symbol"][0]
        assert downbeat.pitch % 12 == pretty_midi.note_name_to_number(root + "0") % 12
        assert 28 <= downbeat.pitch <= 51


def test_drum_fills_close_each_section(song: BlendResult) -> None:
    drums = part(read_midi(song.midi), "Drums").notes
    toms = {41, 43, 45, 47, 48, 50}
    fill_bars = {int(n.start // 2.0) for n in drums if n.pitch in toms}
    section_ends = {s["start_bar"] - 1 + s["bars"] - 1 for s in song.summary["sections"]}
    assert fill_bars == section_ends - {47}  # the last bar is a crash, not a fill
    crashes = {int(n.start // 2.0) for n in drums if n.pitch == 49}
    assert {s["start_bar"] - 1 for s in song.summary["sections"][1:]} <= crashes


def test_the_bytes_do_not_depend_on_string_hashing(
    chorales: list[SourceSong], tmp_path: Path
) -> None:
    """Two interpreters with different string-hash seeds (set and dict order of strings
    differ between them) write the same file."""
    paths = []
    for song in chorales[:2]:
        paths.append(tmp_path / f"{song.title}.mid")
        paths[-1].write_bytes(song.midi)
    script = (
        "import hashlib, pathlib\n"
        "from cadenza.composition.engine import blend, BlendParams, SourceSong\n"
        f"paths = {[str(p) for p in paths]!r}\n"
        "songs = [SourceSong(p, pathlib.Path(p).read_bytes()) for p in paths]\n"
        "params = BlendParams(engine='markov', length_bars=16, seed=4, lyrics='one two three')\n"
        "result = blend(songs, params)\n"
        "print(hashlib.sha256(result.midi).hexdigest())\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONHASHSEED": seed})
        for seed in ("1", "2")
    ]  # fmt: skip
    # Only the last line: pyfluidsynth announces where it found its library when CI is set.
    digests = {run.communicate(timeout=120)[0].strip().splitlines()[-1] for run in runs}
    assert [run.returncode for run in runs] == [0, 0]
    assert len(digests) == 1
    in_process = blend(chorales[:2], markov(length_bars=16, seed=4, lyrics="one two three"))
    assert digests == {hashlib.sha256(in_process.midi).hexdigest()}
