"""The music21 corpus as seed songs: which songs, in which order, and MIDI that other tools read."""

from __future__ import annotations

import io
from pathlib import Path

import pretty_midi
import pytest

from cadenza.contracts.catalog import SongMetadata
from cadenza.music.corpus import COLLECTIONS, CorpusSong, convert_work, iter_corpus


def _midi(song: CorpusSong) -> pretty_midi.PrettyMIDI:
    return pretty_midi.PrettyMIDI(io.BytesIO(song.midi))


def _collection(song: CorpusSong) -> str:
    return song.source.removeprefix("music21:").split("/")[0]


@pytest.fixture(scope="module")
def first_twelve() -> list[CorpusSong]:
    return list(iter_corpus(limit=12))


def test_a_small_limit_gives_that_many_songs_from_several_collections(
    first_twelve: list[CorpusSong],
) -> None:
    assert len(first_twelve) == 12
    assert len({_collection(song) for song in first_twelve}) >= 2
    assert {_collection(song) for song in first_twelve} <= set(COLLECTIONS)
    assert len({song.source for song in first_twelve}) == 12


def test_every_song_is_accepted_by_the_catalog_contract(first_twelve: list[CorpusSong]) -> None:
    for song in first_twelve:
        meta = SongMetadata(
            title=song.title, artist=song.artist, tags=song.tags, source=song.source
        )
        assert meta.title == song.title and song.title.strip()
        assert meta.tags == song.tags  # already lowercase, unique and valid
        assert song.artist


def test_every_song_is_a_type_1_midi_file_with_notes_tempo_meter_and_key(
    first_twelve: list[CorpusSong],
) -> None:
    for song in first_twelve:
        assert song.midi[:4] == b"MThd" and song.midi[8:10] == b"\x00\x01", song.source
        midi = _midi(song)
        assert sum(len(instrument.notes) for instrument in midi.instruments) > 0, song.source
        assert midi.get_end_time() > 1.0, song.source
        assert midi.time_signature_changes and midi.time_signature_changes[0].time == 0
        assert midi.key_signature_changes and midi.key_signature_changes[0].time == 0
        times, bpms = midi.get_tempo_changes()
        assert times[0] == 0 and 10 < bpms[0] < 400, song.source


def test_a_bach_chorale_has_its_title_composer_and_four_voices() -> None:
    (chorale,) = iter_corpus(limit=1, collections=["bach"])
    assert chorale.source == "music21:bach/bwv1.6.mxl"
    assert chorale.title.endswith("(BWV 1.6)") and chorale.artist == "J. S. Bach"
    assert "chorale" in chorale.tags
    assert len(_midi(chorale).instruments) >= 4  # one track per part


def test_the_same_call_gives_the_same_songs_in_the_same_order(
    first_twelve: list[CorpusSong],
) -> None:
    again = list(iter_corpus(limit=12))
    assert [song.source for song in again] == [song.source for song in first_twelve]
    assert [song.midi for song in again] == [song.midi for song in first_twelve]


def test_two_worker_processes_give_the_same_songs(first_twelve: list[CorpusSong]) -> None:
    pooled = list(iter_corpus(limit=6, workers=2))
    assert pooled == first_twelve[:6]


def test_an_unknown_collection_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown corpus collections"):
        iter_corpus(limit=1, collections=["bach", "beatles"])


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.mxl", b"PK\x03\x04 this is not a zip archive"),
        ("broken.krn", b"**kern\n*M4/4\n=1\n4cc\tnot a spine\n*-\n"),
        ("empty.abc", b"X:1\nT:No notes\nK:C\n"),
    ],
)
def test_a_work_that_cannot_be_converted_gives_none(
    tmp_path: Path, name: str, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert convert_work(path) is None
    assert f"skipping file:{name}" in caplog.text


TUNE = """X:7
T:Repeats and endings
M:4/4
L:1/4
Q:1/4=120
K:Am
|: A B c d |1 e f g a :|2 a g f e |]
X:8
T:A tied note
M:3/4
L:1/4
K:D
D3- | D3 | F3 |]
"""


def test_an_abc_tune_plays_its_repeats_and_endings(tmp_path: Path) -> None:
    path = tmp_path / "tunes.abc"
    path.write_text(TUNE)
    song = convert_work(path, 7)
    assert song is not None
    assert (song.title, song.artist, song.source) == (
        "Repeats and endings",
        "Unknown",
        "file:tunes.abc#7",
    )
    midi = _midi(song)
    (part,) = midi.instruments
    # A B c d, first ending, A B c d again, second ending.
    assert [note.pitch for note in part.notes] == [
        *(69, 71, 72, 74),
        *(76, 77, 79, 81),
        *(69, 71, 72, 74),
        *(81, 79, 77, 76),
    ]
    assert midi.get_end_time() == pytest.approx(8.0)  # 16 quarters at 120 a minute
    assert midi.key_signature_changes[0].key_number == pretty_midi.key_name_to_key_number("A minor")


def test_tied_notes_sound_as_one(tmp_path: Path) -> None:
    path = tmp_path / "tunes.abc"
    path.write_text(TUNE)
    song = convert_work(path, 8)
    assert song is not None
    midi = _midi(song)
    notes = [(note.pitch, round(note.end - note.start, 3)) for note in midi.instruments[0].notes]
    assert notes == [(62, 3.0), (66, 1.5)]  # six quarters of D, then F#, at 120 a minute
    assert midi.time_signature_changes[0].numerator == 3


def test_an_upbeat_starts_where_it_would_in_a_full_bar_so_bar_lines_fall_as_in_the_score() -> None:
    from cadenza.music.corpus import corpus_root

    song = convert_work(corpus_root() / "bach" / "bwv66.6.mxl")
    assert song is not None
    midi = _midi(song)
    first = min(note.start for inst in midi.instruments for note in inst.notes)
    beat = midi.get_beats()[1] - midi.get_beats()[0]
    assert first == pytest.approx(3 * beat)  # one quarter of upbeat in 4/4: on beat four
    signature = midi.time_signature_changes[0]
    assert (signature.numerator, signature.denominator, signature.time) == (4, 4, 0)


def test_essen_places_with_trailing_spaces_still_name_their_region() -> None:
    from cadenza.music.corpus import corpus_root

    song = convert_work(corpus_root() / "essenFolksong" / "ballad10.abc", 9)
    assert song is not None  # it used to be skipped with a KeyError on "deutschland "
    assert "german" in song.tags
