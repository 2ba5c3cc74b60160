"""The learned engine end to end on real corpus songs with the shipped weights: texture, form
and metre follow the sources, the same seed gives the same bytes, quotes are measured against
the sources and the corpus, and it is the default engine."""

from __future__ import annotations

import io
from dataclasses import replace

import pretty_midi
import pytest

from cadenza.composition.engine import BlendError, BlendParams, SourceSong, blend
from cadenza.music.corpus import convert_work, corpus_root


def _song(path: str, number: int | None = None) -> SourceSong:
    converted = convert_work(corpus_root() / path, number)
    assert converted is not None, path
    return SourceSong(converted.title, converted.midi, tags=converted.tags)


@pytest.fixture(scope="module")
def chorales() -> list[SourceSong]:
    return [_song("bach/bwv66.6.mxl"), _song("bach/bwv1.6.mxl"), _song("bach/bwv347.mxl")]


@pytest.fixture(scope="module")
def reels() -> list[SourceSong]:
    return [
        _song("ryansMammoth/7thRegimentReel.abc"),
        _song("ryansMammoth/AbithaMugginsFavoriteReel.abc"),
        _song("ryansMammoth/AcaciaReel.abc"),
    ]


def test_chorales_blend_into_a_four_voice_chorale_by_default(chorales: list[SourceSong]) -> None:
    result = blend(chorales, BlendParams(length_bars=12, seed=2))
    summary = result.summary
    assert summary["engine"] == "learned" and summary["texture"] == "chorale"
    assert summary["time_signature"] == "4/4" and summary["bars"] == 12
    midi = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    assert len([i for i in midi.instruments if i.notes]) == 4
    assert all(i.program == 52 for i in midi.instruments)  # choir aahs
    assert summary["originality"]["passed"]
    assert summary["measures"]["ends_on_tonic"]
    assert result.musicxml.startswith(b"<?xml")
    again = blend(chorales, BlendParams(length_bars=12, seed=2))
    assert again.midi == result.midi
    assert blend(chorales, BlendParams(length_bars=12, seed=3)).midi != result.midi


def test_reels_keep_their_metre_and_strains_and_get_chords_and_a_stepping_bass(
    reels: list[SourceSong],
) -> None:
    summary = blend(reels, BlendParams(length_bars=32, seed=1)).summary
    assert summary["texture"] == "tune" and summary["style_mix"] == {"reel": 3}
    assert summary["time_signature"] in {s["time_signature"] for s in summary["sources"]}
    assert set(summary["instruments"]) == {"voice 1", "chords", "bass"}
    assert summary["measures"]["bass_leaps_over_a_sixth"] == 0
    sections = [s["name"] for s in summary["sections"]]
    assert sections == ["A", "A (repeat)", "B", "B (repeat)"]  # the sources repeat their strains


def test_without_tags_a_source_s_style_comes_from_its_texture(
    chorales: list[SourceSong], reels: list[SourceSong]
) -> None:
    untagged = [replace(s, tags=()) for s in (*chorales[:1], *reels[:2])]
    summary = blend(untagged, BlendParams(length_bars=8, seed=0)).summary
    assert [s["style_from"] for s in summary["sources"]] == ["texture"] * 3
    assert summary["style_mix"] == {"chorale": 1, "tune": 2}


def test_lyrics_or_a_band_style_choose_the_markov_engine_unless_learned_is_asked_for(
    chorales: list[SourceSong],
) -> None:
    assert blend(chorales, BlendParams(length_bars=4, lyrics="la la")).summary["engine"] == "markov"
    styled = BlendParams(length_bars=4, style="rock")
    assert blend(chorales, styled).summary["engine"] == "markov"
    with pytest.raises(BlendError, match='need engine "markov"'):
        blend(chorales, BlendParams(length_bars=4, lyrics="la la", engine="learned"))
    with pytest.raises(BlendError, match=r"temperature must be 0\.1 to 2\.0"):
        blend(chorales, BlendParams(length_bars=4, temperature=3.0))


def test_key_hints_are_read_as_the_markov_engine_reads_them(chorales: list[SourceSong]) -> None:
    from cadenza.composition.learned.blend import read_learned_source

    song = chorales[0]  # bwv66.6, F# minor
    tonic_only = read_learned_source(1, "x", song.midi, "F#", None, None, song.tags)
    assert (tonic_only.key.tonic, tonic_only.key.mode) == (6, "minor")  # its mode estimated
    told = read_learned_source(1, "x", song.midi, "A", "major", None, song.tags)
    assert (told.key.tonic, told.key.mode) == (9, "major")
    with pytest.raises(BlendError, match=r'^source 2 \("y"\) has a key hint that does not parse'):
        read_learned_source(2, "y", song.midi, "Z", None, None, song.tags)


@pytest.mark.parametrize(("key", "number"), [("C# minor", 13), ("Db major", 1), ("Eb minor", 15)])
def test_every_key_is_written_as_its_key_signature(
    chorales: list[SourceSong], key: str, number: int
) -> None:
    result = blend(chorales, BlendParams(length_bars=4, key=key, seed=0))
    midi = pretty_midi.PrettyMIDI(io.BytesIO(result.midi))
    assert midi.key_signature_changes[0].key_number == number  # 0..11 major, 12..23 minor
    assert result.summary["key_name"] == key
